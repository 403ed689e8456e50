//! Object versions in a bucket that keeps them (pure: ids, layouts, what the index must hold).
//!
//! The head `<bucket-id>/<key>` is always the key's newest version, so a GET without a
//! version id stays one read. Every version, the head's included, also has a record in the
//! key's index shard (`v/<key>\0<inverted position>`, newest first) holding its metadata.
//! Positions come from the head: each head swap takes one more than the highest position the
//! key has used, so versions are ordered by the commits of their head swaps, never by a
//! gateway's clock.
//!
//! A version's first stripe lives in the head while it is current. Before a write replaces
//! the head and keeps the old version, it copies those bytes to the old write's tail number 0
//! (PUT tails start at 1), so a noncurrent version is read from tails alone:
//! [`preserved`] is where its bytes are. The copy has a name fixed by the old write's tag, so
//! two writers racing to preserve one version write the same object.

use crate::ids;
use crate::layout::{STRIPE, tail_prefix};
use crate::records::{IndexEntry, ObjectMeta, Segment, VersionStamp};

/// The id S3 gives the version written while versioning was off or suspended.
pub const NULL_ID: &str = "null";

/// A version named by a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionRef {
    /// The "null" version.
    Null,
    /// A version with an id (which encodes its position).
    Id {
        /// The position the id names.
        seq: u64,
        /// The whole id.
        id: String,
    },
}

impl VersionRef {
    /// Parses a request's `versionId`; `None` if it cannot be an id we gave.
    pub fn parse(id: &str) -> Option<VersionRef> {
        if id == NULL_ID {
            return Some(VersionRef::Null);
        }
        let hex = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex {
            return None;
        }
        let seq = u64::from_str_radix(&id[..16], 16).ok()?;
        Some(VersionRef::Id {
            seq,
            id: id.to_owned(),
        })
    }

    /// Whether `meta` is the version this names.
    pub fn names(&self, meta: &ObjectMeta) -> bool {
        if meta.vacant {
            return false;
        }
        match self {
            VersionRef::Null => is_null(meta),
            VersionRef::Id { id, .. } => {
                meta.version.as_ref().and_then(|v| v.id.as_ref()) == Some(id)
            }
        }
    }
}

/// A new, unique version id for position `seq`: the position (so the record is found
/// without a search) and random bytes (positions restart once every version of a key is gone).
pub fn new_id(seq: u64) -> String {
    format!("{seq:016x}{}", ids::random_hex::<8>())
}

/// The version id of `meta` ("null" for a version written without one).
pub fn id_of(meta: &ObjectMeta) -> &str {
    meta.version
        .as_ref()
        .and_then(|v| v.id.as_deref())
        .unwrap_or(NULL_ID)
}

/// The position of `meta` in its key's order (0 for a head written before versioning).
pub fn seq_of(meta: &ObjectMeta) -> u64 {
    meta.version.as_ref().map_or(0, |v| v.seq)
}

/// Whether `meta` is the "null" version.
pub fn is_null(meta: &ObjectMeta) -> bool {
    meta.version.as_ref().is_none_or(|v| v.id.is_none())
}

/// The stamp of the version a write replacing `head` makes (`None`: the key has no head;
/// `max_recorded` is the highest position its leftover records use, if any).
pub fn next_stamp(
    head: Option<&ObjectMeta>,
    max_recorded: Option<u64>,
    null: bool,
) -> VersionStamp {
    let used = match head {
        Some(h) => h.seq_hwm.max(seq_of(h)),
        None => max_recorded.unwrap_or(0),
    };
    let seq = used + 1;
    VersionStamp {
        seq,
        id: (!null).then(|| new_id(seq)),
    }
}

/// Whether a write of a version that is `null` (or not) keeps `old`, the head it replaces,
/// as a noncurrent version: only a "null" version replaces the "null" one.
pub fn keeps(old: &ObjectMeta, null: bool) -> bool {
    !(null && is_null(old))
}

/// Where the bytes of `meta` are once it is not the head: its first `head_len` bytes were
/// copied to tail 0 of its own write ([`tail_prefix`] of its tag).
pub fn preserved(meta: &ObjectMeta, bucket_id: &str) -> ObjectMeta {
    let mut out = meta.clone();
    let head_len = out.manifest.head_len;
    if head_len == 0 {
        return out;
    }
    let prefix = tail_prefix(bucket_id, &meta.tag);
    out.manifest.head_len = 0;
    match out.manifest.segments.first_mut() {
        // A full first stripe followed by the write's own tails: one run from tail 0.
        Some(first) if first.prefix == prefix && first.first == 1 && head_len == STRIPE => {
            first.first = 0;
            first.len += head_len;
        }
        _ => out.manifest.segments.insert(
            0,
            Segment {
                prefix,
                first: 0,
                len: head_len,
                part: None,
            },
        ),
    }
    out
}

/// The record kept for a version that is the head `meta` (the fields that only a head
/// uses dropped, so the record does not change when they do).
pub fn record_of(meta: &ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        seq_hwm: 0,
        replaces_null: None,
        list_gen: 0,
        ..meta.clone()
    }
}

/// What a key's index must hold for its head: the listed entry and the version records to
/// write and remove.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexPlan {
    /// The listed entry (`None`: not listed, as for a delete marker or no head).
    pub entry: Option<IndexEntry>,
    /// Records to write: (position, record).
    pub set: Vec<(u64, ObjectMeta)>,
    /// Positions whose records go.
    pub remove: Vec<u64>,
}

/// Plans the index of a key whose head is `head`, given the records it has (`records`, any
/// order: the newest ones and any the head names). Rules, each from an invariant:
/// - the head has a record equal to [`record_of`] it;
/// - no record is newer than the head (those are versions deleted while current, whose
///   removal did not finish); with no head (or a vacant one), no record remains;
/// - a "null" head has replaced the noncurrent "null" version it names.
pub fn plan_index(head: Option<&ObjectMeta>, records: &[(u64, ObjectMeta)]) -> IndexPlan {
    let Some(head) = head.filter(|h| !h.vacant) else {
        return IndexPlan {
            entry: None,
            set: Vec::new(),
            remove: records.iter().map(|(seq, _)| *seq).collect(),
        };
    };
    let seq = seq_of(head);
    let want = record_of(head);
    let mut plan = IndexPlan {
        entry: (!head.delete_marker).then(|| IndexEntry::of(head, true)),
        ..IndexPlan::default()
    };
    let mut recorded = false;
    for (at, record) in records {
        let replaced = head.replaces_null == Some(*at) && *at != seq && is_null(record);
        if *at > seq || replaced {
            plan.remove.push(*at);
        } else if *at == seq {
            recorded = true;
            if *record != want {
                plan.set.push((seq, want.clone()));
            }
        }
    }
    if !recorded {
        plan.set.push((seq, want));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Manifest;

    fn version(seq: u64, id: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            version: Some(VersionStamp {
                seq,
                id: id.map(str::to_owned),
            }),
            tag: format!("t{seq}"),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn ids_parse_back_and_garbage_is_refused() {
        let id = new_id(42);
        assert_eq!(
            VersionRef::parse(&id),
            Some(VersionRef::Id {
                seq: 42,
                id: id.clone()
            })
        );
        assert_ne!(new_id(42), id, "ids are unique even at one position");
        assert_eq!(VersionRef::parse("null"), Some(VersionRef::Null));
        for bad in [
            "",
            "nul",
            "xyz",
            &id[1..],
            &id.to_uppercase(),
            &format!("{id}0"),
        ] {
            assert_eq!(VersionRef::parse(bad), None, "{bad:?}");
        }
        assert!(VersionRef::Null.names(&ObjectMeta::default()));
        assert!(!VersionRef::parse(&id).unwrap().names(&version(42, None)));
    }

    #[test]
    fn positions_never_repeat_while_the_key_has_a_head() {
        assert_eq!(next_stamp(None, None, true).seq, 1);
        assert_eq!(next_stamp(None, Some(9), true).seq, 10);
        let mut promoted = version(3, Some("a"));
        promoted.seq_hwm = 7;
        let next = next_stamp(Some(&promoted), None, false);
        assert_eq!(next.seq, 8);
        assert_eq!(
            VersionRef::parse(next.id.as_deref().unwrap())
                .map(|r| matches!(r, VersionRef::Id { seq: 8, .. })),
            Some(true)
        );
        assert_eq!(next_stamp(Some(&ObjectMeta::default()), None, true).seq, 1);
    }

    #[test]
    fn only_null_replaces_null() {
        assert!(!keeps(&ObjectMeta::default(), true));
        assert!(keeps(&ObjectMeta::default(), false));
        assert!(keeps(&version(2, Some("x")), true));
    }

    #[test]
    fn preserved_bytes_move_to_tail_zero() {
        let small = ObjectMeta {
            tag: "t".into(),
            size: 10,
            manifest: Manifest {
                head_len: 10,
                segments: vec![],
                pool: None,
            },
            ..ObjectMeta::default()
        };
        let p = preserved(&small, "b");
        assert_eq!(p.manifest.head_len, 0);
        assert_eq!(p.manifest.size(), 10);
        assert_eq!(p.manifest.tails(), vec!["b.tail.t.0"]);

        let big = ObjectMeta {
            tag: "t".into(),
            manifest: Manifest {
                head_len: STRIPE,
                segments: vec![Segment {
                    prefix: tail_prefix("b", "t"),
                    first: 1,
                    len: STRIPE + 1,
                    part: None,
                }],
                pool: None,
            },
            ..ObjectMeta::default()
        };
        let p = preserved(&big, "b");
        assert_eq!(p.manifest.size(), big.manifest.size());
        assert_eq!(
            p.manifest.tails(),
            vec!["b.tail.t.0", "b.tail.t.1", "b.tail.t.2"]
        );
        assert_eq!(
            preserved(&p, "b"),
            p,
            "a version without head bytes is unchanged"
        );
    }

    #[test]
    fn the_index_follows_the_head() {
        // No head: every record goes; a vacant head is no head.
        let plan = plan_index(None, &[(2, version(2, Some("b"))), (1, version(1, None))]);
        assert_eq!(plan.remove, vec![2, 1]);
        assert_eq!(plan.entry, None);
        let vacant = ObjectMeta {
            vacant: true,
            seq_hwm: 2,
            ..ObjectMeta::default()
        };
        assert_eq!(
            plan_index(Some(&vacant), &[(2, version(2, Some("b")))]).remove,
            vec![2]
        );
        assert!(
            !VersionRef::Null.names(&vacant),
            "a vacant head is no null version"
        );

        // A new head gets its record; a record newer than the head goes.
        let head = version(3, Some("c"));
        let plan = plan_index(
            Some(&head),
            &[(4, version(4, Some("d"))), (2, version(2, None))],
        );
        assert_eq!(plan.set, vec![(3, record_of(&head))]);
        assert_eq!(plan.remove, vec![4]);
        assert_eq!(plan.entry.map(|e| e.versioned), Some(true));

        // Settled already: nothing to do; head-only fields do not count.
        let mut settled = head.clone();
        settled.list_gen = 5;
        settled.seq_hwm = 9;
        let plan = plan_index(Some(&settled), &[(3, record_of(&head))]);
        assert!(plan.set.is_empty() && plan.remove.is_empty());

        // A delete marker is not listed; a null head removes the null version it replaced.
        let mut marker = version(5, None);
        marker.delete_marker = true;
        marker.replaces_null = Some(2);
        let plan = plan_index(
            Some(&marker),
            &[
                (5, record_of(&marker)),
                (4, version(4, Some("d"))),
                (2, version(2, None)),
            ],
        );
        assert_eq!(plan.entry, None);
        assert_eq!(plan.remove, vec![2]);
        assert!(plan.set.is_empty());
    }
}
