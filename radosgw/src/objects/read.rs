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

/// The head a GET reads: its object, the write tag it must carry, and where its bytes are
/// preserved once it is replaced ([`crate::versions::preserved`]: a version kept, or a
/// transition, copies them there before the swap), so a GET that began before the swap
/// still finishes. Replaced without that copy, the read fails rather than mix versions.
#[derive(Clone, Debug)]
pub struct HeadRef {
    /// The head object.
    pub oid: String,
    /// The write tag of the version being read.
    pub tag: String,
    /// Tail 0 of the version's own write, in the data pool.
    pub preserved: String,
}

/// Streams `pieces`: head pieces from `head` in `data`, tails from `tails` as they are.
/// `prefetched` holds the head bytes already read (from offset `prefetched_at`), if any.
pub fn stream(
    data: IoCtx,
    tails: IoCtx,
    head: HeadRef,
    prefetched: Option<(u64, Bytes)>,
    pieces: Vec<Piece>,
) -> ChannelBody {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    tokio::spawn(async move {
        let reads = futures::stream::iter(pieces.into_iter().map(|piece| {
            let data = &data;
            let tails = &tails;
            let head = &head;
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
                        read_head(data, head, off, len).await
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
                tracing::warn!(object = head.oid, %e, "read of an object's data failed mid-stream");
            }
            if tx.send(result).await.is_err() || failed {
                return; // the client went away, or the stream ends with the error
            }
        }
    });
    ChannelBody { rx }
}

async fn read_head(data: &IoCtx, head: &HeadRef, off: u64, len: u64) -> Result<Bytes, GwError> {
    use rados::proto::osd::Op;
    let ops = vec![
        Op::CmpXattr {
            name: crate::layout::TAG_XATTR.to_owned(),
            value: Some(serde_bytes::ByteBuf::from(head.tag.as_bytes().to_vec())),
        },
        Op::Read {
            off,
            len: Some(len),
        },
    ];
    let bytes = match data.operate(&head.oid, ops, Bytes::new()).await {
        Ok((_, bytes)) => bytes,
        Err(e) if matches!(e, rados::ClientError::GuardFailed { .. }) => {
            // Replaced since: its bytes are where the replacement preserved them, if it did.
            match data.read(&head.preserved, off, Some(len)).await {
                Ok(bytes) => {
                    check_len(&head.preserved, &bytes, len)?;
                    return Ok(bytes);
                }
                Err(missing) if missing.is_not_found() => return Err(e.into()),
                Err(other) => return Err(other.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    check_len(&head.oid, &bytes, len)?;
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
    fn a_replaced_head_is_read_where_its_bytes_were_preserved() {
        use rados::WriteOp;
        let data = IoCtx::in_memory("data", std::sync::Arc::new(rados::MemoryPool::new()));
        let head = HeadRef {
            oid: "b/k".into(),
            tag: "old".into(),
            preserved: "b.tail.old.0".into(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let write = |bytes: &'static [u8], tag: &'static [u8]| {
                WriteOp::new()
                    .write_full(Bytes::from_static(bytes))
                    .set_xattr(crate::layout::TAG_XATTR, tag)
            };
            data.write("b/k", write(b"old bytes", b"old"))
                .await
                .unwrap();
            assert_eq!(read_head(&data, &head, 4, 5).await.unwrap(), "bytes");
            // Replaced without a preserved copy: the read fails, it never mixes versions.
            data.write("b/k", write(b"NEW BYTES", b"new"))
                .await
                .unwrap();
            assert!(read_head(&data, &head, 4, 5).await.is_err());
            // Preserved (a version kept, or a transition): read from there.
            data.write_full("b.tail.old.0", Bytes::from_static(b"old bytes"))
                .await
                .unwrap();
            assert_eq!(read_head(&data, &head, 4, 5).await.unwrap(), "bytes");
        });
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
