//! Listing a pool, pure: a pool is listed PG by PG (seed `0..pg_num`), each PG in name
//! order, so a cursor is a PG seed and the last name returned from it. [`ListPager`] decides
//! which PG requests one page takes; the shell sends them.

use serde::{Deserialize, Serialize};

use crate::proto::osd::ObjectStat;

/// Most entries asked of one PG in one request, so that a reply stays far below the frame
/// limit whatever page size the caller wants.
pub const LIST_BATCH: u32 = 1000;

/// Where a pool listing resumes: in PG `seed`, after the name `after` (`None`: from the PG's
/// start). Opaque to callers beyond being serializable (a gateway can hand it out as a
/// continuation token). If the pool's pg_num changes between pages, objects that moved PG
/// may be missed or listed twice.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ListCursor {
    /// The PG seed the listing is in.
    pub seed: u32,
    /// The last name returned from that PG.
    pub after: Option<String>,
}

/// One `ListObjects` request the pager wants sent to the primary of PG `seed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PgListRequest {
    /// The PG seed.
    pub seed: u32,
    /// Exclusive start.
    pub start_after: Option<String>,
    /// Most entries wanted.
    pub limit: u32,
}

/// Builds one page of a pool listing from per-PG requests. Drive it with
/// [`poll_request`](Self::poll_request) (send it), [`handle_page`](Self::handle_page) (its
/// answer), until `poll_request` returns `None`; then [`finish`](Self::finish).
#[derive(Debug)]
pub(crate) struct ListPager {
    pg_num: u32,
    seed: u32,
    after: Option<String>,
    limit: usize,
    asked: u32,
    items: Vec<(String, ObjectStat)>,
}

impl ListPager {
    /// A page of at most `limit` entries (at least 1) of a pool of `pg_num` PGs, from
    /// `cursor` (`None`: the start).
    pub fn new(pg_num: u32, cursor: Option<ListCursor>, limit: u32) -> ListPager {
        let cursor = cursor.unwrap_or(ListCursor {
            seed: 0,
            after: None,
        });
        ListPager {
            pg_num,
            seed: cursor.seed,
            after: cursor.after,
            limit: limit.max(1) as usize,
            asked: 0,
            items: Vec::new(),
        }
    }

    /// The next PG request, or `None` when the page is full or every PG is done. Call
    /// before each request; answer each with `handle_page`.
    pub fn poll_request(&mut self) -> Option<PgListRequest> {
        if self.items.len() >= self.limit || self.seed >= self.pg_num {
            return None;
        }
        let want = (self.limit - self.items.len()).min(LIST_BATCH as usize) as u32;
        self.asked = want;
        Some(PgListRequest {
            seed: self.seed,
            start_after: self.after.clone(),
            limit: want,
        })
    }

    /// The answer to the last request. A short answer means the PG is done, so the next
    /// request moves to the next PG. Entries beyond what was asked, and names not after the
    /// start (a misbehaving OSD), are dropped, so the listing always moves forward.
    pub fn handle_page(&mut self, mut entries: Vec<(String, ObjectStat)>) {
        if let Some(after) = &self.after {
            entries.retain(|(name, _)| name > after);
        }
        entries.truncate(self.asked as usize);
        let full = entries.len() == self.asked as usize;
        if full {
            self.after = entries.last().map(|(name, _)| name.clone());
        } else {
            self.seed += 1;
            self.after = None;
        }
        self.items.extend(entries);
    }

    /// The page and where the next one starts (`None`: the listing is complete).
    pub fn finish(self) -> (Vec<(String, ObjectStat)>, Option<ListCursor>) {
        let next = (self.seed < self.pg_num).then_some(ListCursor {
            seed: self.seed,
            after: self.after,
        });
        (self.items, next)
    }
}
