//! GetObjectAttributes: what S3 says of an object without its bytes (ETag, checksums,
//! parts, storage class, size), each only when asked for.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::ShoalS3;
use super::convert::timestamp;
use super::list_ops::listed_max;
use super::version_ops::{permitted_version, shown_id};
use crate::authz::Action;
use crate::records::ObjectMeta;

pub(super) async fn get_object_attributes(
    s3: &ShoalS3,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let caller = s3.caller(&req).await?;
    let input = &req.input;
    let asked: Vec<&str> = input.object_attributes.iter().map(|a| a.as_str()).collect();
    if asked.is_empty() {
        return Err(s3_error!(
            InvalidArgument,
            "x-amz-object-attributes names at least one attribute"
        ));
    }
    let known = [
        ObjectAttributes::ETAG,
        ObjectAttributes::CHECKSUM,
        ObjectAttributes::OBJECT_PARTS,
        ObjectAttributes::STORAGE_CLASS,
        ObjectAttributes::OBJECT_SIZE,
    ];
    if let Some(bad) = asked.iter().find(|a| !known.contains(a)) {
        return Err(s3_error!(
            InvalidArgument,
            "unknown object attribute {bad:?}"
        ));
    }
    let (bucket, _, meta) = permitted_version(
        s3,
        &req.extensions,
        caller.as_ref(),
        (&input.bucket, &input.key, input.version_id.as_deref()),
        Action::GetObject,
    )
    .await?;
    let wants = |a: &str| asked.contains(&a);
    let parts = if wants(ObjectAttributes::OBJECT_PARTS) {
        object_parts(&meta, input.part_number_marker, input.max_parts)?
    } else {
        None
    };
    Ok(S3Response::new(GetObjectAttributesOutput {
        e_tag: wants(ObjectAttributes::ETAG).then(|| ETag::Strong(meta.etag.clone())),
        checksum: wants(ObjectAttributes::CHECKSUM)
            .then(|| Checksum::from(&meta.checksums))
            .filter(|c| *c != Checksum::default()),
        object_parts: parts,
        storage_class: wants(ObjectAttributes::STORAGE_CLASS).then(|| {
            StorageClass::from(
                meta.storage_class
                    .clone()
                    .unwrap_or_else(|| crate::storage_class::STANDARD.to_owned()),
            )
        }),
        object_size: wants(ObjectAttributes::OBJECT_SIZE).then_some(meta.size as i64),
        last_modified: Some(timestamp(meta.mtime_ms)),
        version_id: shown_id(&bucket, &meta),
        ..Default::default()
    }))
}

/// The parts of a multipart object after `marker`, at most `max` (`None` for an object
/// written whole, as S3 answers).
fn object_parts(
    meta: &ObjectMeta,
    marker: Option<i32>,
    max: Option<i32>,
) -> S3Result<Option<GetObjectAttributesParts>> {
    let Some(total) = meta.parts else {
        return Ok(None);
    };
    let max = listed_max(max, "max-parts")?;
    let after = u32::try_from(marker.unwrap_or(0))
        .map_err(|_| s3_error!(InvalidArgument, "bad part-number-marker"))?;
    // A part's size: the segments that carry its number.
    let mut sizes: Vec<(u32, u64)> = Vec::new();
    for seg in &meta.manifest.segments {
        let Some(part) = seg.part else { continue };
        match sizes.last_mut() {
            Some((n, size)) if *n == part => *size += seg.len,
            _ => sizes.push((part, seg.len)),
        }
    }
    let rest: Vec<&(u32, u64)> = sizes.iter().filter(|(n, _)| *n > after).collect();
    let page: Vec<ObjectPart> = rest
        .iter()
        .take(max)
        .map(|(n, size)| ObjectPart {
            part_number: Some(*n as i32),
            size: Some(*size as i64),
            ..Default::default()
        })
        .collect();
    let truncated = rest.len() > page.len();
    Ok(Some(GetObjectAttributesParts {
        total_parts_count: Some(total as i32),
        part_number_marker: marker,
        next_part_number_marker: page.last().and_then(|p| p.part_number),
        max_parts: Some(max as i32),
        is_truncated: Some(truncated),
        parts: Some(page),
    }))
}
