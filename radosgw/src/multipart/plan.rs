//! The pure half of multipart uploads: omap key layout, part-list validation, the
//! multipart ETag and composite checksums, what to collect when an upload ends, and where
//! a listing of uploads starts. No cluster access, so all of it is unit-tested here.

use std::collections::{BTreeMap, BTreeSet};

use md5::{Digest, Md5};
use s3s::S3ErrorCode;
use s3s::checksum::ChecksumHasher;
use serde::{Deserialize, Serialize};

use crate::error::{GwError, GwResult};
use crate::layout::tail_prefix;
use crate::records::{Checksums, Manifest, PartRecord, Segment};

/// The highest part number S3 allows.
pub const MAX_PART_NUMBER: u32 = 10_000;
/// The smallest size of every part but the last.
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// The largest part S3 allows.
pub const MAX_PART_SIZE: u64 = 5 << 30;

/// The trace of one upload of a part (stored under `p/<tag>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartMarker {
    /// When the writer last said it was alive (ms); a pending writer may still add tails.
    pub since_ms: i64,
    /// The part was recorded; its tails are complete.
    pub done: bool,
}

/// One part as CompleteMultipartUpload lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestedPart {
    /// Its number.
    pub number: u32,
    /// Its ETag (quotes ignored).
    pub etag: String,
    /// Checksums the client expects it to have.
    pub checksums: Checksums,
}

/// What a completion will install, worked out from the listed and uploaded parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// One segment per listed part.
    pub manifest: Manifest,
    /// `md5(part md5s)-count`.
    pub etag: String,
    /// Composite checksums (`checksum(part checksums)-count`) of the upload's algorithm.
    pub checksums: Checksums,
}

/// The parameters of ListMultipartUploads.
#[derive(Clone, Copy, Debug, Default)]
pub struct UploadQuery<'q> {
    /// Only keys starting with this.
    pub prefix: &'q str,
    /// Roll keys up to the first delimiter after the prefix.
    pub delimiter: Option<&'q str>,
    /// Start after this key ...
    pub key_marker: Option<&'q str>,
    /// ... and, within it, after this upload id.
    pub upload_id_marker: Option<&'q str>,
    /// Uploads and prefixes to return at most.
    pub max: usize,
}

pub(super) fn upload_key(key: &str, upload_id: &str) -> Vec<u8> {
    format!("{key}\0{upload_id}").into_bytes()
}

/// The omap key of part `n` (zero-padded so keys sort by number).
pub fn part_key(n: u32) -> Vec<u8> {
    format!("n/{n:05}").into_bytes()
}

pub(super) fn marker_key(tag: &str) -> Vec<u8> {
    format!("p/{tag}").into_bytes()
}

/// A part number from a request, if S3 allows it.
pub fn check_part_number(n: i32) -> GwResult<u32> {
    match u32::try_from(n) {
        Ok(n) if (1..=MAX_PART_NUMBER).contains(&n) => Ok(n),
        _ => Err(GwError::s3(
            S3ErrorCode::InvalidArgument,
            format!("part number must be an integer from 1 to {MAX_PART_NUMBER}"),
        )),
    }
}

pub(super) fn segment_of(part: &PartRecord) -> Segment {
    let prefix = part.prefix.clone();
    let (len, part) = (part.size, Some(part.number));
    Segment {
        prefix,
        first: 0,
        len,
        part,
    }
}

/// The multipart ETag of parts with these MD5s (hex): MD5 of the binary MD5s, then `-count`.
/// `None` if one is not an MD5.
pub fn multipart_etag<'s>(md5_hexes: impl IntoIterator<Item = &'s str>) -> Option<String> {
    let mut md5 = Md5::new();
    let mut count = 0;
    for h in md5_hexes {
        let raw = hex::decode(h.trim_matches('"'))
            .ok()
            .filter(|r| r.len() == 16)?;
        md5.update(raw);
        count += 1;
    }
    Some(format!("{}-{count}", hex::encode(md5.finalize())))
}

/// Checks the listed parts against the uploaded ones (ascending, existing, ETags and
/// checksums matching, all but the last at least [`MIN_PART_SIZE`]) and plans the object.
pub fn plan_completion(
    requested: &[RequestedPart],
    uploaded: &BTreeMap<u32, PartRecord>,
    algorithm: Option<&str>,
) -> GwResult<Completion> {
    let bad = |code, msg: String| Err(GwError::s3(code, msg));
    if requested.is_empty() {
        return bad(S3ErrorCode::MalformedXML, "no parts were listed".into());
    }
    if requested.windows(2).any(|w| w[0].number >= w[1].number) {
        return bad(
            S3ErrorCode::InvalidPartOrder,
            "parts must be listed in ascending order".into(),
        );
    }
    let mut parts = Vec::with_capacity(requested.len());
    for (i, want) in requested.iter().enumerate() {
        let n = want.number;
        let Some(part) = uploaded.get(&n) else {
            return bad(
                S3ErrorCode::InvalidPart,
                format!("part {n} was not uploaded"),
            );
        };
        if want.etag.trim_matches('"') != part.etag || !agree(&want.checksums, &part.checksums) {
            let msg = format!("part {n}'s ETag or checksum does not match the uploaded part");
            return bad(S3ErrorCode::InvalidPart, msg);
        }
        if i + 1 < requested.len() && part.size < MIN_PART_SIZE {
            let msg = format!("part {n} is below the 5 MiB minimum of all but the last part");
            return bad(S3ErrorCode::EntityTooSmall, msg);
        }
        parts.push(part);
    }
    let etag = multipart_etag(parts.iter().map(|p| p.etag.as_str()));
    let etag = etag.ok_or_else(|| GwError::s3(S3ErrorCode::InternalError, "bad part ETag"))?;
    let segments = parts.iter().map(|p| segment_of(p)).collect();
    Ok(Completion {
        manifest: Manifest {
            head_len: 0,
            segments,
            pool: None,
        },
        etag,
        checksums: composite_checksums(algorithm, &parts),
    })
}

/// Every checksum the client gave equals the stored one.
pub(super) fn agree(given: &Checksums, stored: &Checksums) -> bool {
    let g = [
        &given.crc32,
        &given.crc32c,
        &given.sha1,
        &given.sha256,
        &given.crc64nvme,
    ];
    let s = [
        &stored.crc32,
        &stored.crc32c,
        &stored.sha1,
        &stored.sha256,
        &stored.crc64nvme,
    ];
    g.iter().zip(s).all(|(g, s)| g.is_none() || *g == s)
}

/// S3's composite checksum of `algorithm`: the checksum of the parts' binary checksums,
/// then `-count`. Empty unless every part has one. CRC64NVME is left out: S3 only has
/// full-object CRC64NVME, which needs CRC combination.
pub fn composite_checksums(algorithm: Option<&str>, parts: &[&PartRecord]) -> Checksums {
    type Field = fn(&mut Checksums) -> &mut Option<String>;
    let mut h = ChecksumHasher::default();
    let field: Field = match algorithm {
        Some("CRC32") => (|c| &mut c.crc32) as Field,
        Some("CRC32C") => |c| &mut c.crc32c,
        Some("SHA1") => |c| &mut c.sha1,
        Some("SHA256") => |c| &mut c.sha256,
        _ => return Checksums::default(),
    };
    match algorithm {
        Some("CRC32") => h.crc32 = Some(Default::default()),
        Some("CRC32C") => h.crc32c = Some(Default::default()),
        Some("SHA1") => h.sha1 = Some(Default::default()),
        _ => h.sha256 = Some(Default::default()),
    }
    for part in parts {
        match field(&mut part.checksums.clone())
            .as_deref()
            .and_then(crate::text::base64_decode)
        {
            Some(raw) => h.update(&raw),
            None => return Checksums::default(),
        }
    }
    let sum = h.finalize();
    // The hasher ran one algorithm (never CRC64NVME), so only that field is set.
    let mut out = Checksums::from(sum);
    let value = field(&mut out)
        .take()
        .map(|v| format!("{v}-{}", parts.len()));
    let mut only = Checksums::default();
    *field(&mut only) = value;
    only
}

/// Tails to queue when an upload ends, keeping those `keep` (the installed head) uses.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Garbage {
    /// Recorded parts not kept.
    pub(super) parts: Manifest,
    /// Prefixes of finished part uploads no record names (lost races).
    pub(super) done: Vec<String>,
    /// Prefixes of part uploads that may still be writing.
    pub(super) pending: Vec<String>,
}

pub(super) fn garbage(
    bucket_id: &str,
    parts: &BTreeMap<u32, PartRecord>,
    markers: &BTreeMap<String, PartMarker>,
    keep: Option<&Manifest>,
) -> Garbage {
    let kept: BTreeSet<&str> = keep
        .map(|m| m.segments.iter().map(|s| s.prefix.as_str()).collect())
        .unwrap_or_default();
    let recorded: BTreeSet<&str> = parts.values().map(|p| p.prefix.as_str()).collect();
    let mut out = Garbage::default();
    let unkept = parts.values().filter(|p| !kept.contains(p.prefix.as_str()));
    out.parts.segments = unkept.map(segment_of).collect();
    for (tag, marker) in markers {
        let prefix = tail_prefix(bucket_id, tag);
        if kept.contains(prefix.as_str()) || recorded.contains(prefix.as_str()) {
            continue;
        }
        match marker.done {
            true => out.done.push(prefix),
            false => out.pending.push(prefix),
        }
    }
    out
}

/// The common prefix `key` rolls up into, if the delimiter occurs after `prefix`.
pub fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.strip_prefix(prefix)?;
    rest.find(d).map(|i| &key[..prefix.len() + i + d.len()])
}

/// Where a listing starts (exclusive) in the uploads omap. `0xff` never occurs in UTF-8,
/// so `x ++ [0xff]` sorts after every key starting with `x`.
pub fn list_start(q: &UploadQuery<'_>) -> Option<Vec<u8>> {
    let from_marker = q.key_marker.filter(|k| !k.is_empty()).map(|k| {
        let id = q.upload_id_marker.filter(|i| !i.is_empty());
        let mut start = k.as_bytes().to_vec();
        if common_prefix(k, q.prefix, q.delimiter) == Some(k) {
            start.push(0xff);
        } else if let Some(id) = id {
            start = upload_key(k, id);
        } else {
            start.extend_from_slice(&[0, 0xff]);
        }
        start
    });
    let from_prefix = (!q.prefix.is_empty()).then(|| q.prefix.as_bytes().to_vec());
    from_marker.max(from_prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD5_A: &str = "0cc175b9c0f1b6a831c399e269772661";
    const MD5_B: &str = "92eb5ffee6ae2fec3ad71c777531578f";
    /// md5(md5("a") ++ md5("b")), as S3 computes it for parts "a" and "b".
    const ETAG_AB: &str = "96e024ba2074fe77e8e965ba43a704be-2";

    fn part(number: u32, size: u64, etag: &str) -> PartRecord {
        let (prefix, etag) = (format!("b.tail.t{number}"), etag.into());
        let checksums = Checksums::default();
        PartRecord {
            number,
            size,
            etag,
            mtime_ms: 0,
            prefix,
            checksums,
        }
    }

    fn ask(number: u32, etag: &str) -> RequestedPart {
        RequestedPart {
            number,
            etag: etag.into(),
            ..RequestedPart::default()
        }
    }

    fn code(parts: &[RequestedPart], up: &BTreeMap<u32, PartRecord>) -> S3ErrorCode {
        match plan_completion(parts, up, None) {
            Err(GwError::S3 { code, .. }) => code,
            other => panic!("expected an S3 error, got {other:?}"),
        }
    }

    #[test]
    fn part_numbers_are_one_to_ten_thousand() {
        assert_eq!(check_part_number(1).unwrap(), 1);
        assert_eq!(check_part_number(10_000).unwrap(), 10_000);
        for bad in [0, -1, 10_001] {
            assert!(check_part_number(bad).is_err(), "{bad}");
        }
        assert!(part_key(2) < part_key(10) && part_key(10_000) < marker_key("0"));
    }

    #[test]
    fn multipart_etag_is_md5_of_binary_md5s() {
        assert_eq!(multipart_etag([MD5_A, MD5_B]).as_deref(), Some(ETAG_AB));
        let quoted = format!("\"{MD5_A}\"");
        assert_eq!(
            multipart_etag([quoted.as_str(), MD5_B]).as_deref(),
            Some(ETAG_AB)
        );
        assert_eq!(multipart_etag(["nothex", MD5_B]), None);
    }

    #[test]
    fn completion_checks_order_existence_and_etags() {
        let up = [(1, part(1, MIN_PART_SIZE, MD5_A)), (2, part(2, 1, MD5_B))].into();
        assert_eq!(code(&[], &up), S3ErrorCode::MalformedXML);
        assert_eq!(
            code(&[ask(2, MD5_B), ask(1, MD5_A)], &up),
            S3ErrorCode::InvalidPartOrder
        );
        assert_eq!(
            code(&[ask(1, MD5_A), ask(1, MD5_A)], &up),
            S3ErrorCode::InvalidPartOrder
        );
        assert_eq!(
            code(&[ask(1, MD5_A), ask(3, MD5_B)], &up),
            S3ErrorCode::InvalidPart
        );
        assert_eq!(code(&[ask(1, MD5_B)], &up), S3ErrorCode::InvalidPart);
        let mut bad_sum = ask(1, MD5_A);
        bad_sum.checksums.crc32 = Some("AAAAAA==".into());
        assert_eq!(code(&[bad_sum], &up), S3ErrorCode::InvalidPart);

        let quoted = [ask(1, &format!("\"{MD5_A}\"")), ask(2, MD5_B)];
        let plan = plan_completion(&quoted, &up, None).unwrap();
        assert_eq!(plan.etag, ETAG_AB);
        assert_eq!(plan.manifest.size(), MIN_PART_SIZE + 1);
        assert_eq!(plan.manifest.head_len, 0);
        assert_eq!(plan.manifest.segments[1], segment_of(&up[&2]));
        assert_eq!(plan.manifest.segments[1].part, Some(2));
    }

    #[test]
    fn only_the_last_part_may_be_small() {
        let up = [
            (1, part(1, MIN_PART_SIZE - 1, MD5_A)),
            (2, part(2, MIN_PART_SIZE, MD5_B)),
            (3, part(3, 0, MD5_A)),
        ]
        .into();
        assert_eq!(
            code(&[ask(1, MD5_A), ask(2, MD5_B)], &up),
            S3ErrorCode::EntityTooSmall
        );
        assert!(plan_completion(&[ask(1, MD5_A)], &up, None).is_ok());
        // Numbers need not be contiguous, and the last part may be empty.
        assert!(plan_completion(&[ask(2, MD5_B), ask(3, MD5_A)], &up, None).is_ok());
    }

    #[test]
    fn composite_checksum_hashes_the_part_checksums() {
        let (mut a, mut b) = (part(1, 1, MD5_A), part(2, 1, MD5_B));
        a.checksums.crc32 = Some("6Le+Qw==".into()); // crc32("a")
        b.checksums.crc32 = Some("cb7v+Q==".into()); // crc32("b")
        let sums = composite_checksums(Some("CRC32"), &[&a, &b]);
        assert_eq!(sums.crc32.as_deref(), Some("7pJxdw==-2"));
        assert_eq!(sums.sha256, None);
        assert_eq!(
            composite_checksums(Some("SHA256"), &[&a, &b]),
            Checksums::default()
        );
        assert_eq!(composite_checksums(None, &[&a]), Checksums::default());
    }

    #[test]
    fn garbage_keeps_the_installed_tails_only() {
        let parts: BTreeMap<u32, PartRecord> =
            [(1, part(1, 9, MD5_A)), (2, part(2, 9, MD5_B))].into();
        let marker = |done| PartMarker { since_ms: 0, done };
        let markers: BTreeMap<String, PartMarker> = [
            ("t1".to_owned(), marker(true)),   // part 1, kept
            ("t2".to_owned(), marker(true)),   // part 2, recorded, not kept
            ("lost".to_owned(), marker(true)), // lost a race for a part number
            ("live".to_owned(), marker(false)),
        ]
        .into();
        let keep = Manifest {
            head_len: 0,
            segments: vec![segment_of(&parts[&1])],
            pool: None,
        };
        let g = garbage("b", &parts, &markers, Some(&keep));
        assert_eq!(g.parts.tails(), vec!["b.tail.t2.0"]);
        assert_eq!(
            (g.done, g.pending),
            (vec!["b.tail.lost".into()], vec!["b.tail.live".into()])
        );
        let all = garbage("b", &parts, &markers, None);
        assert_eq!((all.parts.segments.len(), all.done.len()), (2, 1));
    }

    #[test]
    fn listing_starts_after_markers_and_rolls_up_prefixes() {
        assert_eq!(common_prefix("a/b/c", "a/", Some("/")), Some("a/b/"));
        assert_eq!(common_prefix("a/b", "a/", Some("/")), None);
        assert_eq!(common_prefix("a/b", "x", Some("/")), None);
        assert_eq!(common_prefix("a/b", "", None), None);
        let q = |prefix, delimiter, key_marker, upload_id_marker| UploadQuery {
            prefix,
            delimiter,
            key_marker,
            upload_id_marker,
            max: 1000,
        };
        assert_eq!(list_start(&q("", None, None, None)), None);
        assert_eq!(list_start(&q("p", None, None, None)), Some(b"p".to_vec()));
        assert_eq!(
            list_start(&q("", None, Some("k"), Some("id"))),
            Some(upload_key("k", "id"))
        );
        let after_k = list_start(&q("", None, Some("k"), None)).unwrap();
        assert!(after_k > upload_key("k", "ffff") && after_k < upload_key("k0", "0"));
        let after_dir = list_start(&q("", Some("/"), Some("d/"), None)).unwrap();
        assert!(after_dir > upload_key("d/zzz", "f") && after_dir < upload_key("d0", "0"));
        // A marker before the prefix starts at the prefix.
        assert_eq!(
            list_start(&q("m", None, Some("a"), None)),
            Some(b"m".to_vec())
        );
    }
}
