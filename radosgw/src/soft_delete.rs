//! Delayed purge in one admin command (`shoal bucket soft-delete`): S3's own recipe, set
//! up for the operator. Versioning on, and a lifecycle rule ([`RULE_ID`]) that removes a
//! version `days` after it became noncurrent and a delete marker once nothing is under it.
//! A deleted object stays restorable for that long (delete its marker, or copy an older
//! version over it); after that it is purged. The bucket's other rules are kept.

use crate::buckets::Buckets;
use crate::error::{GwError, GwResult};
use crate::lifecycle::{self, Filter, LifecycleConfig, NoncurrentExpiration, Rule};
use crate::objects::Objects;
use crate::records::Versioning;

/// The id of the rule this command owns.
pub const RULE_ID: &str = "shoal-soft-delete";

/// `config` with the soft-delete rule set to keep deleted data `days` (`None`: the rule
/// removed); `None` when no rule is left.
pub fn with_rule(config: Option<LifecycleConfig>, days: Option<u32>) -> Option<LifecycleConfig> {
    let mut rules: Vec<Rule> = config
        .map(|c| c.rules)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.id != RULE_ID)
        .collect();
    if let Some(days) = days {
        rules.push(Rule {
            id: RULE_ID.to_owned(),
            enabled: true,
            filter: Filter::default(),
            expired_object_delete_marker: true,
            noncurrent: Some(NoncurrentExpiration {
                days,
                keep_newer: 0,
            }),
            ..Rule::default()
        });
    }
    (!rules.is_empty()).then_some(LifecycleConfig { rules })
}

/// Turns delayed purge on for bucket `name` with a window of `days` (`None`: off).
/// Versioning is enabled if it never was; a bucket whose versioning is suspended is
/// refused (its deletes would not keep versions).
pub async fn set(
    buckets: &Buckets,
    objects: &Objects,
    name: &str,
    days: Option<u32>,
) -> GwResult<()> {
    let Some(bucket) = buckets.get(name).await? else {
        return Err(crate::buckets::no_such_bucket(name));
    };
    let invalid = |why: String| GwError::s3(s3s::S3ErrorCode::InvalidArgument, why);
    if days.is_some() {
        match bucket.versioning {
            Versioning::Suspended => {
                return Err(invalid(format!(
                    "versioning is suspended on {name}: enable it first (deletes there keep no \
                     versions)"
                )));
            }
            Versioning::Off => {
                objects
                    .set_versioning(buckets, &bucket, Versioning::Enabled)
                    .await?;
            }
            Versioning::Enabled => {}
        }
    }
    let config = with_rule(bucket.lifecycle.clone(), days);
    if let Some(config) = &config {
        lifecycle::validate(config).map_err(|e| invalid(e.to_string()))?;
        crate::lc_worker::prepare(objects, &bucket).await?;
    }
    buckets.set_lifecycle(name, config).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_is_added_replaced_and_removed_alone() {
        let other = Rule {
            id: "mine".into(),
            enabled: true,
            abort_upload_days: Some(3),
            ..Rule::default()
        };
        let base = Some(LifecycleConfig {
            rules: vec![other.clone()],
        });
        let on = with_rule(base.clone(), Some(1)).unwrap();
        assert_eq!(on.rules.len(), 2);
        assert_eq!(on.rules[0], other, "the bucket's own rules stay");
        let rule = &on.rules[1];
        assert_eq!(rule.id, RULE_ID);
        assert!(rule.expired_object_delete_marker);
        assert_eq!(rule.noncurrent.map(|n| n.days), Some(1));
        lifecycle::validate(&on).unwrap();
        let longer = with_rule(Some(on), Some(7)).unwrap();
        assert_eq!(longer.rules.len(), 2, "replaced, not added twice");
        assert_eq!(longer.rules[1].noncurrent.map(|n| n.days), Some(7));
        assert_eq!(with_rule(Some(longer), None), base);
        assert_eq!(with_rule(None, None), None);
    }
}
