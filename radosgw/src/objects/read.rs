//! Streams a byte range of an object: plans which pieces of which objects hold the range
//! (pure), then reads them in order with a small read-ahead into a bounded channel, so a GET
//! holds at most a few [`READ_CHUNK`]s in memory however large the object.

use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use rados::IoCtx;
use tokio::sync::mpsc;

use crate::error::GwError;
use crate::layout::{STRIPE, tail_oid};
use crate::records::Manifest;

/// Largest read sent to the cluster at once.
pub const READ_CHUNK: u64 = 1 << 20;
/// Reads in flight per GET.
pub const READ_AHEAD: usize = 2;

/// Where one piece of the range comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Bytes of the head's stripe (`off`, `len` within the head object).
    Head {
        /// Offset in the head.
        off: u64,
        /// Length.
        len: u64,
    },
    /// Bytes of a tail object.
    Tail {
        /// The tail object.
        oid: String,
        /// Offset in it.
        off: u64,
        /// Length.
        len: u64,
    },
}

/// The pieces holding `range` of the object described by `manifest`, each at most
/// [`READ_CHUNK`] long, in order.
pub fn plan(manifest: &Manifest, range: Range<u64>) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut push = |make: &dyn Fn(u64, u64) -> Piece, start: u64, end: u64| {
        let mut at = start;
        while at < end {
            let len = (end - at).min(READ_CHUNK);
            out.push(make(at, len));
            at += len;
        }
    };
    // The head's bytes are [0, head_len).
    let head_end = manifest.head_len;
    if range.start < head_end {
        push(
            &|off, len| Piece::Head { off, len },
            range.start,
            range.end.min(head_end),
        );
    }
    let mut base = head_end;
    for seg in &manifest.segments {
        let seg_range = base..base + seg.len;
        base += seg.len;
        let start = range.start.max(seg_range.start);
        let end = range.end.min(seg_range.end);
        if start >= end {
            continue;
        }
        // Offsets within the segment, split at tail object boundaries.
        let mut at = start - seg_range.start;
        let stop = end - seg_range.start;
        while at < stop {
            let n = at / STRIPE;
            let in_obj = at % STRIPE;
            let len = (STRIPE - in_obj).min(stop - at);
            let oid = tail_oid(&seg.prefix, seg.first + n);
            push(
                &|off, len| Piece::Tail {
                    oid: oid.clone(),
                    off,
                    len,
                },
                in_obj,
                in_obj + len,
            );
            at += len;
        }
    }
    out
}

/// A response body fed by a reader task through a bounded channel.
pub struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, GwError>>,
}

impl Stream for ChannelBody {
    type Item = Result<Bytes, GwError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// Streams `pieces`: head pieces from `head_oid` in `data` (guarded by `head_tag`, so a
/// head replaced meanwhile fails the read instead of mixing versions), tails from `tails`
/// as they are. `prefetched` holds the head bytes already read (from offset
/// `prefetched_at`), if any.
pub fn stream(
    data: IoCtx,
    tails: IoCtx,
    head_oid: String,
    head_tag: String,
    prefetched: Option<(u64, Bytes)>,
    pieces: Vec<Piece>,
) -> ChannelBody {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    tokio::spawn(async move {
        let reads = futures::stream::iter(pieces.into_iter().map(|piece| {
            let data = &data;
            let tails = &tails;
            let head_oid = &head_oid;
            let head_tag = &head_tag;
            let prefetched = &prefetched;
            async move {
                match piece {
                    Piece::Head { off, len } => {
                        if let Some((at, bytes)) = prefetched
                            && off >= *at
                            && off + len <= at + bytes.len() as u64
                        {
                            let s = (off - at) as usize;
                            return Ok(bytes.slice(s..s + len as usize));
                        }
                        read_head(data, head_oid, head_tag, off, len).await
                    }
                    Piece::Tail { oid, off, len } => {
                        let bytes = tails.read(&oid, off, Some(len)).await?;
                        check_len(&oid, &bytes, len)?;
                        Ok(bytes)
                    }
                }
            }
        }));
        let mut reads = reads.buffered(READ_AHEAD);
        while let Some(result) = reads.next().await {
            let failed = result.is_err();
            if let Err(e) = &result {
                tracing::warn!(object = head_oid, %e, "read of an object's data failed mid-stream");
            }
            if tx.send(result).await.is_err() || failed {
                return; // the client went away, or the stream ends with the error
            }
        }
    });
    ChannelBody { rx }
}

async fn read_head(
    data: &IoCtx,
    head_oid: &str,
    head_tag: &str,
    off: u64,
    len: u64,
) -> Result<Bytes, GwError> {
    use rados::proto::osd::Op;
    let ops = vec![
        Op::CmpXattr {
            name: crate::layout::TAG_XATTR.to_owned(),
            value: Some(serde_bytes::ByteBuf::from(head_tag.as_bytes().to_vec())),
        },
        Op::Read {
            off,
            len: Some(len),
        },
    ];
    let (_, bytes) = data.operate(head_oid, ops, Bytes::new()).await?;
    check_len(head_oid, &bytes, len)?;
    Ok(bytes)
}

fn check_len(oid: &str, bytes: &Bytes, want: u64) -> Result<(), GwError> {
    if bytes.len() as u64 == want {
        Ok(())
    } else {
        Err(GwError::BadRecord {
            object: oid.to_owned(),
            reason: format!("short read: {} of {want} bytes", bytes.len()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Segment;

    fn manifest() -> Manifest {
        Manifest {
            head_len: STRIPE,
            segments: vec![Segment {
                prefix: "t".into(),
                first: 1,
                len: STRIPE + 10,
                part: None,
            }],
            pool: None,
        }
    }

    fn total(pieces: &[Piece]) -> u64 {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Head { len, .. } | Piece::Tail { len, .. } => *len,
            })
            .sum()
    }

    #[test]
    fn whole_object_covers_head_and_tails_in_chunks() {
        let m = manifest();
        let pieces = plan(&m, 0..m.size());
        assert_eq!(total(&pieces), m.size());
        assert_eq!(
            pieces[0],
            Piece::Head {
                off: 0,
                len: READ_CHUNK
            }
        );
        assert_eq!(
            pieces.last().unwrap(),
            &Piece::Tail {
                oid: "t.2".into(),
                off: 0,
                len: 10
            }
        );
        assert!(pieces.iter().all(|p| match p {
            Piece::Head { len, .. } | Piece::Tail { len, .. } => *len <= READ_CHUNK,
        }));
    }

    #[test]
    fn a_range_across_the_head_boundary_reads_only_what_it_needs() {
        let m = manifest();
        let pieces = plan(&m, STRIPE - 2..STRIPE + 3);
        assert_eq!(
            pieces,
            vec![
                Piece::Head {
                    off: STRIPE - 2,
                    len: 2
                },
                Piece::Tail {
                    oid: "t.1".into(),
                    off: 0,
                    len: 3
                },
            ]
        );
        assert!(plan(&m, 5..5).is_empty());
    }

    #[test]
    fn multipart_segments_start_at_object_zero() {
        let m = Manifest {
            head_len: 0,
            segments: vec![
                Segment {
                    prefix: "p1".into(),
                    first: 0,
                    len: 5,
                    part: Some(1),
                },
                Segment {
                    prefix: "p2".into(),
                    first: 0,
                    len: 5,
                    part: Some(2),
                },
            ],
            pool: None,
        };
        assert_eq!(
            plan(&m, 3..7),
            vec![
                Piece::Tail {
                    oid: "p1.0".into(),
                    off: 3,
                    len: 2
                },
                Piece::Tail {
                    oid: "p2.0".into(),
                    off: 0,
                    len: 2
                },
            ]
        );
    }
}
