//! ListObjects (V1, V2) and ListObjectVersions over the sharded bucket index.

use std::collections::HashMap;

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::ShoalS3;
use super::convert::{owner, timestamp};
use crate::authz::Action;
use crate::layout::{VERSION_PREFIX, version_key};
use crate::listing::{Item, ListParams, Listing, list_bucket, list_versions};
use crate::records::{BucketRecord, IndexEntry, UserRecord};
use crate::versions::{self, NULL_ID, VersionRef};

/// Most entries one listing returns (keys, parts, uploads), whatever the request asks.
const MAX_LISTED: i32 = 1000;

/// A listing's page size from its `max-keys` (`max-parts`, `max-uploads`) parameter.
pub(super) fn listed_max(asked: Option<i32>, what: &str) -> S3Result<usize> {
    match asked {
        None => Ok(MAX_LISTED as usize),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "{what} must not be negative")),
        Some(n) => Ok(n.min(MAX_LISTED) as usize),
    }
}

fn max_keys(asked: Option<i32>) -> S3Result<usize> {
    listed_max(asked, "max-keys")
}

/// Whether `encoding-type=url` was asked for (anything else is refused).
pub(super) fn url_mode(encoding: Option<&EncodingType>) -> S3Result<bool> {
    match encoding.map(EncodingType::as_str) {
        None => Ok(false),
        Some("url") => Ok(true),
        Some(other) => Err(s3_error!(
            InvalidArgument,
            "invalid encoding type {other:?}"
        )),
    }
}

struct Encoder(bool);

impl Encoder {
    fn apply(&self, s: String) -> String {
        if self.0 {
            crate::text::url_encode(&s)
        } else {
            s
        }
    }
    fn opt(&self, s: Option<String>) -> Option<String> {
        s.map(|s| self.apply(s))
    }
}

/// Resolves owners' display names once per listing.
struct Owners<'a> {
    s3: &'a ShoalS3,
    known: HashMap<String, Option<UserRecord>>,
}

impl Owners<'_> {
    async fn owner(&mut self, uid: &str) -> S3Result<Owner> {
        if !self.known.contains_key(uid) {
            let user = self.s3.users.get(uid).await?;
            self.known.insert(uid.to_owned(), user);
        }
        Ok(owner(uid, self.known[uid].as_ref()))
    }
}

/// The bucket, the listing, objects and common prefixes as S3 DTOs.
struct Page {
    bucket: BucketRecord,
    listing: Listing<IndexEntry>,
}

async fn list(
    s3: &ShoalS3,
    cx: &http::Extensions,
    caller: Option<&UserRecord>,
    bucket: &str,
    params: &ListParams,
) -> S3Result<Page> {
    let bucket = s3.bucket(cx, caller, bucket, Action::ListBucket).await?;
    let listing = if params.max_keys == 0 {
        Listing::empty()
    } else {
        list_bucket(&s3.objects.cluster.index, &bucket.id, bucket.shards, params).await?
    };
    Ok(Page { bucket, listing })
}

impl Page {
    async fn objects(
        &self,
        s3: &ShoalS3,
        enc: &Encoder,
        with_owner: bool,
    ) -> S3Result<(Vec<Object>, Vec<CommonPrefix>)> {
        let mut owners = Owners {
            s3,
            known: HashMap::new(),
        };
        let mut objects = Vec::new();
        let mut prefixes = Vec::new();
        for item in &self.listing.items {
            match item {
                Item::Object { key, entry } => objects.push(Object {
                    key: Some(enc.apply(key.clone())),
                    size: Some(entry.size as i64),
                    e_tag: Some(ETag::Strong(entry.etag.clone())),
                    last_modified: Some(timestamp(entry.mtime_ms)),
                    storage_class: Some(ObjectStorageClass::from(class_name(
                        entry.storage_class.as_deref(),
                    ))),
                    owner: if with_owner {
                        Some(owners.owner(&entry.owner).await?)
                    } else {
                        None
                    },
                    ..Default::default()
                }),
                Item::CommonPrefix(p) => prefixes.push(CommonPrefix {
                    prefix: Some(enc.apply(p.clone())),
                }),
            }
        }
        Ok((objects, prefixes))
    }
}

pub(super) async fn list_objects(
    s3: &ShoalS3,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let caller = s3.caller(&req).await?;
    let input = req.input;
    let enc = Encoder(url_mode(input.encoding_type.as_ref())?);
    let params = ListParams {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
        start_after: input.marker.clone().filter(|m| !m.is_empty()),
        max_keys: max_keys(input.max_keys)?,
    };
    let page = list(s3, &req.extensions, caller.as_ref(), &input.bucket, &params).await?;
    let (contents, common_prefixes) = page.objects(s3, &enc, true).await?;
    // NextMarker only comes with a delimiter (without one, clients use the last key).
    let next_marker = page
        .listing
        .next_marker
        .clone()
        .filter(|_| params.delimiter.is_some());
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(page.bucket.name.clone()),
        prefix: Some(enc.apply(params.prefix.clone())),
        marker: Some(enc.apply(input.marker.unwrap_or_default())),
        max_keys: Some(params.max_keys as i32),
        is_truncated: Some(page.listing.is_truncated),
        contents: Some(contents),
        common_prefixes: Some(common_prefixes),
        delimiter: enc.opt(params.delimiter.clone()),
        next_marker: enc.opt(next_marker),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

/// Continuation tokens are opaque to clients: the next marker, hex-encoded.
fn token_to_marker(token: &str) -> S3Result<String> {
    hex::decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "the continuation token is not valid"))
}

pub(super) async fn list_objects_v2(
    s3: &ShoalS3,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let caller = s3.caller(&req).await?;
    let input = req.input;
    let enc = Encoder(url_mode(input.encoding_type.as_ref())?);
    let start_after = match input.continuation_token.as_deref() {
        Some(token) => Some(token_to_marker(token)?),
        None => input.start_after.clone().filter(|s| !s.is_empty()),
    };
    let params = ListParams {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
        start_after,
        max_keys: max_keys(input.max_keys)?,
    };
    let page = list(s3, &req.extensions, caller.as_ref(), &input.bucket, &params).await?;
    let with_owner = input.fetch_owner.unwrap_or(false);
    let (contents, common_prefixes) = page.objects(s3, &enc, with_owner).await?;
    let key_count = (contents.len() + common_prefixes.len()) as i32;
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(page.bucket.name.clone()),
        prefix: Some(enc.apply(params.prefix.clone())),
        max_keys: Some(params.max_keys as i32),
        key_count: Some(key_count),
        continuation_token: input.continuation_token,
        is_truncated: Some(page.listing.is_truncated),
        next_continuation_token: page
            .listing
            .next_marker
            .as_ref()
            .filter(|_| page.listing.is_truncated)
            .map(hex::encode),
        contents: Some(contents),
        common_prefixes: Some(common_prefixes),
        delimiter: enc.opt(params.delimiter.clone()),
        encoding_type: input.encoding_type,
        start_after: enc.opt(input.start_after),
        ..Default::default()
    }))
}

pub(super) async fn list_object_versions(
    s3: &ShoalS3,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let caller = s3.caller(&req).await?;
    let input = req.input;
    let enc = Encoder(url_mode(input.encoding_type.as_ref())?);
    let key_marker = input.key_marker.clone().filter(|m| !m.is_empty());
    let version_marker = input.version_id_marker.clone().filter(|m| !m.is_empty());
    if version_marker.is_some() && key_marker.is_none() {
        return Err(s3_error!(
            InvalidArgument,
            "A version-id marker cannot be specified without a key marker."
        ));
    }
    let mut params = ListParams {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
        start_after: key_marker.clone(),
        max_keys: max_keys(input.max_keys)?,
    };
    let bucket = s3
        .bucket(
            &req.extensions,
            caller.as_ref(),
            &input.bucket,
            Action::ListBucketVersions,
        )
        .await?;
    let (versions, delete_markers, common_prefixes, next) = if bucket.versioning.keeps_versions() {
        params.start_after = match &key_marker {
            Some(key) => Some(version_position(s3, &bucket, key, version_marker.as_deref()).await?),
            None => None,
        };
        listed_versions(s3, &bucket, &params, &enc, version_marker.is_some()).await?
    } else {
        let page = list(s3, &req.extensions, caller.as_ref(), &input.bucket, &params).await?;
        let (objects, common_prefixes) = page.objects(s3, &enc, true).await?;
        // Never versioned: every object is its only, latest version, "null".
        let versions = objects
            .into_iter()
            .map(|o| ObjectVersion {
                key: o.key,
                size: o.size,
                e_tag: o.e_tag,
                last_modified: o.last_modified,
                owner: o.owner,
                is_latest: Some(true),
                version_id: Some(NULL_ID.to_owned()),
                storage_class: o
                    .storage_class
                    .map(|c| ObjectVersionStorageClass::from(c.as_str().to_owned())),
                ..Default::default()
            })
            .collect();
        let next = page
            .listing
            .next_marker
            .filter(|_| page.listing.is_truncated)
            .map(|key| (key, Some(NULL_ID.to_owned())));
        (versions, Vec::new(), common_prefixes, next)
    };
    let truncated = next.is_some();
    let (next_key_marker, next_version_id_marker) = next.unzip();
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(bucket.name.clone()),
        prefix: Some(enc.apply(params.prefix.clone())),
        key_marker: Some(enc.apply(input.key_marker.unwrap_or_default())),
        version_id_marker: input.version_id_marker,
        max_keys: Some(params.max_keys as i32),
        is_truncated: Some(truncated),
        next_key_marker: enc.opt(next_key_marker),
        next_version_id_marker: next_version_id_marker.flatten(),
        versions: Some(versions),
        delete_markers: (!delete_markers.is_empty()).then_some(delete_markers),
        common_prefixes: Some(common_prefixes),
        delimiter: enc.opt(params.delimiter.clone()),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

/// The listing position just after `key`'s version `version_id` (after all of `key`'s
/// versions without one): a version key, `<key>\0<position>`.
async fn version_position(
    s3: &ShoalS3,
    bucket: &BucketRecord,
    key: &str,
    version_id: Option<&str>,
) -> S3Result<String> {
    // 'g' sorts after every hex digit: past all of the key's versions.
    let past_all = format!("{key}\0g");
    let seq = match version_id.map(VersionRef::parse) {
        None => return Ok(past_all),
        Some(None) => return Err(s3_error!(InvalidArgument, "Invalid version id marker")),
        Some(Some(VersionRef::Id { seq, .. })) => seq,
        Some(Some(which @ VersionRef::Null)) => {
            match s3.objects.find_record(bucket, key, &which).await? {
                Some((seq, _)) => seq,
                None => return Ok(past_all),
            }
        }
    };
    let after = version_key(key, seq);
    Ok(String::from_utf8_lossy(&after[VERSION_PREFIX.len()..]).into_owned())
}

/// A page of a versioned bucket's versions and delete markers; the next page's markers
/// if truncated. The newest version of each key is its latest, unless the page starts
/// inside a key (`mid_key`).
async fn listed_versions(
    s3: &ShoalS3,
    bucket: &BucketRecord,
    params: &ListParams,
    enc: &Encoder,
    mid_key: bool,
) -> S3Result<(
    Vec<ObjectVersion>,
    Vec<DeleteMarkerEntry>,
    Vec<CommonPrefix>,
    Option<(String, Option<String>)>,
)> {
    let listing = if params.max_keys == 0 {
        Listing::empty()
    } else {
        list_versions(&s3.objects.cluster.index, &bucket.id, bucket.shards, params).await?
    };
    let mut owners = Owners {
        s3,
        known: HashMap::new(),
    };
    let mut previous: Option<String> = params
        .start_after
        .as_ref()
        .filter(|_| mid_key)
        .and_then(|p| p.rsplit_once('\0'))
        .map(|(k, _)| k.to_owned());
    let (mut versions, mut markers, mut prefixes) = (Vec::new(), Vec::new(), Vec::new());
    let mut next = None;
    for item in &listing.items {
        match item {
            Item::Object { key: at, entry } => {
                let key = at.rsplit_once('\0').map_or(at.as_str(), |(k, _)| k);
                let is_latest = previous.as_deref() != Some(key);
                previous = Some(key.to_owned());
                let version_id = versions::id_of(entry).to_owned();
                next = Some((key.to_owned(), Some(version_id.clone())));
                let owner = Some(owners.owner(&entry.owner).await?);
                if entry.delete_marker {
                    markers.push(DeleteMarkerEntry {
                        key: Some(enc.apply(key.to_owned())),
                        version_id: Some(version_id),
                        is_latest: Some(is_latest),
                        last_modified: Some(timestamp(entry.mtime_ms)),
                        owner,
                    });
                } else {
                    versions.push(ObjectVersion {
                        key: Some(enc.apply(key.to_owned())),
                        version_id: Some(version_id),
                        is_latest: Some(is_latest),
                        size: Some(entry.size as i64),
                        e_tag: Some(ETag::Strong(entry.etag.clone())),
                        last_modified: Some(timestamp(entry.mtime_ms)),
                        owner,
                        storage_class: Some(ObjectVersionStorageClass::from(class_name(
                            entry.storage_class.as_deref(),
                        ))),
                        ..Default::default()
                    });
                }
            }
            Item::CommonPrefix(p) => {
                next = Some((p.clone(), None));
                prefixes.push(CommonPrefix {
                    prefix: Some(enc.apply(p.clone())),
                });
            }
        }
    }
    let next = next.filter(|_| listing.is_truncated);
    Ok((versions, markers, prefixes, next))
}

/// A stored class as listings show it (`None` is STANDARD).
fn class_name(class: Option<&str>) -> String {
    class.unwrap_or(crate::storage_class::STANDARD).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        assert_eq!(token_to_marker(&hex::encode("dir/x")).unwrap(), "dir/x");
        assert!(token_to_marker("zz").is_err());
    }
}
