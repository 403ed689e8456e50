//! The shell of access-based tiering ([`crate::tiering`]): GETs of INTELLIGENT_TIERING
//! objects are queued here (bounded and dropped when full: tiering is best effort and never
//! slows a read), recorded at most daily in the object's metadata, and a read of a cold
//! object moves it back to the data pool. The lifecycle pass moves idle ones out
//! ([`crate::lc_worker`]).

use s3s::S3ErrorCode;
use tokio::sync::mpsc;

use crate::error::{GwError, GwResult};
use crate::objects::Objects;
use crate::records::{BucketRecord, ObjectMeta, now_ms};
use crate::storage_class::INTELLIGENT_TIERING;
use crate::tiering;

/// Reads waiting to be recorded; past this, reads go unrecorded.
const QUEUE: usize = 256;

/// A GET of the current version of an INTELLIGENT_TIERING object.
#[derive(Debug)]
pub struct Read {
    bucket: BucketRecord,
    key: String,
    /// The version read (its write tag): a version written since is not this read's.
    tag: String,
    /// Its last recorded read, as the GET saw it.
    read_ms: Option<i64>,
    /// It was read from the cold pool.
    cold: bool,
}

/// Where GETs note their reads.
#[derive(Clone, Debug)]
pub struct ReadQueue {
    tx: mpsc::Sender<Read>,
    day_ms: i64,
}

impl ReadQueue {
    /// A queue for a gateway whose lifecycle day is `day_ms`, and its receiving end for
    /// [`run`].
    pub fn new(day_ms: i64) -> (ReadQueue, mpsc::Receiver<Read>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (ReadQueue { tx, day_ms }, rx)
    }

    /// Notes a GET of the current version `meta` of `key`: queued if it is an
    /// INTELLIGENT_TIERING object that is cold or whose read is worth recording.
    pub fn note(&self, bucket: &BucketRecord, key: &str, meta: &ObjectMeta) {
        if meta.storage_class.as_deref() != Some(INTELLIGENT_TIERING) {
            return;
        }
        let cold = meta.manifest.pool.is_some();
        if !cold && !tiering::worth_recording(meta.read_ms, now_ms(), self.day_ms) {
            return;
        }
        // What recording and moving need of the bucket, not its rules.
        let bucket = BucketRecord {
            lifecycle: None,
            object_lock: None,
            policy: None,
            ..bucket.clone()
        };
        let read = Read {
            bucket,
            key: key.to_owned(),
            tag: meta.tag.clone(),
            read_ms: meta.read_ms,
            cold,
        };
        if self.tx.try_send(read).is_err() {
            tracing::debug!(key, "tiering queue full; a read goes unrecorded");
        }
    }
}

/// Records and promotes the reads queued until the queue's senders are gone.
pub async fn run(objects: Objects, mut reads: mpsc::Receiver<Read>, day_ms: i64) {
    while let Some(read) = reads.recv().await {
        if let Err(e) = handle(&objects, &read, day_ms).await {
            tracing::warn!(bucket = read.bucket.name, key = read.key, error = %e, "tiering a read failed");
        }
    }
}

async fn handle(objects: &Objects, read: &Read, day_ms: i64) -> GwResult<()> {
    let now = now_ms();
    if tiering::worth_recording(read.read_ms, now, day_ms) {
        let noted = objects
            .update_meta(&read.bucket, &read.key, None, |meta| {
                if meta.tag != read.tag {
                    return Err(GwError::s3(
                        S3ErrorCode::PreconditionFailed,
                        "replaced since it was read",
                    ));
                }
                if tiering::worth_recording(meta.read_ms, now, day_ms) {
                    meta.read_ms = Some(now);
                }
                Ok(())
            })
            .await;
        match noted {
            Ok(_) => {}
            // Replaced or deleted since: the read was of a version that is gone.
            Err(e)
                if e.is_s3(&S3ErrorCode::PreconditionFailed)
                    || e.is_s3(&S3ErrorCode::NoSuchKey) =>
            {
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
    if read.cold {
        let hot = objects.classes.tier(false).await?;
        let moved = objects
            .transition(&read.bucket, &read.key, &read.tag, hot, |_| true)
            .await?;
        tracing::debug!(
            bucket = read.bucket.name,
            key = read.key,
            ?moved,
            "read while cold"
        );
    }
    Ok(())
}
