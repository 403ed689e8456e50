//! Bucket listing (ListObjects V1/V2 over the listed entries, ListObjectVersions over version
//! records): S3's prefix/delimiter/marker rules over a sharded index.
//!
//! A key lives in the index shard its hash picks, so each shard is a sorted subset and a
//! listing is a k-way merge. Two pure state machines do the work and read nothing themselves,
//! so tests drive them from in-memory shards: [`ShardMerge`] merges pages of shards and says
//! which shards need the next page; [`Lister`] turns merged keys into S3 results and, after a
//! common prefix, tells the merge to skip every key under it (a "directory" of a million
//! objects costs one entry, not a million). [`list_bucket`] is the thin async driver.

use std::collections::VecDeque;

use futures::future::try_join_all;

use crate::error::{GwError, GwResult};
use crate::layout::{ENTRY_PREFIX, VERSION_PREFIX, index_oid, shard_of};
use crate::records::{IndexEntry, ObjectMeta, decode};

/// What to list, once the S3 layer has resolved its markers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListParams {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up at the first occurrence of this after the prefix (empty: none).
    pub delimiter: Option<String>,
    /// Exclusive lower bound: V1's marker, V2's continuation token or start-after.
    pub start_after: Option<String>,
    /// At most this many objects and common prefixes together.
    pub max_keys: usize,
}

/// One result of a listing, in key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item<E> {
    /// An object and its index entry.
    Object {
        /// Its key.
        key: String,
        /// Its index entry.
        entry: E,
    },
    /// Keys rolled up at the delimiter: the prefix up to and including it.
    CommonPrefix(String),
}

impl<E> Item<E> {
    /// The key or common prefix: what a client passes back as the next marker.
    pub fn marker(&self) -> &str {
        match self {
            Item::Object { key, .. } => key,
            Item::CommonPrefix(cp) => cp,
        }
    }
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing<E> {
    /// Objects and common prefixes, in key order.
    pub items: Vec<Item<E>>,
    /// Whether more items follow (we saw one past `max_keys`).
    pub is_truncated: bool,
    /// When truncated, the last item's key or common prefix: the next page's `start_after`.
    pub next_marker: Option<String>,
}

impl<E> Listing<E> {
    /// A page with nothing on it (what `max-keys=0` gets, without looking).
    pub fn empty() -> Listing<E> {
        Listing {
            items: Vec::new(),
            is_truncated: false,
            next_marker: None,
        }
    }
}

/// What a [`Lister`] wants after a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send the next key.
    Continue,
    /// Every key up to and including this one is useless: skip to after it.
    Seek(Vec<u8>),
    /// The listing is complete; call [`Lister::finish`].
    Done,
}

/// S3 listing rules over keys fed in ascending byte order. Pure: no I/O.
#[derive(Debug)]
pub struct Lister<E> {
    prefix: String,
    delimiter: Option<String>,
    start_after: Option<String>,
    max_keys: usize,
    items: Vec<Item<E>>,
    truncated: bool,
    done: bool,
    /// Keys are `<key>\0<position>` (version listings): the delimiter applies to the key.
    versions: bool,
}

impl<E> Lister<E> {
    /// A lister for `params`; with `max_keys` 0 it is done at once (S3 answers an empty,
    /// untruncated page without looking).
    pub fn new(params: &ListParams) -> Lister<E> {
        Lister {
            prefix: params.prefix.clone(),
            // S3 treats `delimiter=` like no delimiter.
            delimiter: params.delimiter.clone().filter(|d| !d.is_empty()),
            start_after: params.start_after.clone(),
            max_keys: params.max_keys,
            items: Vec::new(),
            truncated: false,
            done: params.max_keys == 0,
            versions: false,
        }
    }

    /// A lister of version keys, `<key>\0<position>` (ListObjectVersions): every version is
    /// an item, and the delimiter is looked for in the key alone.
    pub fn of_versions(params: &ListParams) -> Lister<E> {
        Lister {
            versions: true,
            ..Lister::new(params)
        }
    }

    /// Where the source should start (exclusive; `None`: from the first key): past both the
    /// marker and every key that sorts below the prefix.
    pub fn seek_start(&self) -> Option<Vec<u8>> {
        let marker = self.start_after.as_ref().map(|s| s.as_bytes().to_vec());
        just_below(self.prefix.as_bytes()).max(marker)
    }

    /// Whether more keys can change the result.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Takes the next key; keys must come in strictly ascending order, but keys before
    /// [`Lister::seek_start`] or a requested seek are tolerated and ignored.
    pub fn handle_key(&mut self, key: String, entry: E) -> Step {
        if self.done {
            return Step::Done;
        }
        if self.start_after.as_ref().is_some_and(|s| key <= *s) {
            return Step::Continue;
        }
        if !key.starts_with(&self.prefix) {
            // Keys with the prefix form one contiguous range; past it, nothing more matches.
            if key > self.prefix {
                self.done = true;
                return Step::Done;
            }
            return Step::Continue;
        }
        let key_end = match self.versions {
            true => key.rfind('\0').unwrap_or(key.len()).max(self.prefix.len()),
            false => key.len(),
        };
        let rest = &key[self.prefix.len()..key_end];
        let rolled = self
            .delimiter
            .as_deref()
            .and_then(|d| rest.find(d).map(|i| self.prefix.len() + i + d.len()));
        if let Some(end) = rolled {
            let cp = &key[..end];
            let mut past = cp.as_bytes().to_vec();
            // No UTF-8 key contains 0xFF, so every key under `cp` sorts below this.
            past.push(0xFF);
            // A common prefix at or before the marker was on an earlier page (or is the
            // marker itself), so its keys are skipped too: that keeps pagination exact.
            let old = self.start_after.as_ref().is_some_and(|s| cp <= s.as_str())
                || matches!(self.items.last(), Some(Item::CommonPrefix(last)) if last == cp);
            if !old {
                if !self.room() {
                    return Step::Done;
                }
                self.items.push(Item::CommonPrefix(cp.to_owned()));
            }
            return Step::Seek(past);
        }
        if !self.room() {
            return Step::Done;
        }
        self.items.push(Item::Object { key, entry });
        Step::Continue
    }

    /// Whether one more item fits; if not, a qualifying item exists past the page.
    fn room(&mut self) -> bool {
        if self.items.len() < self.max_keys {
            return true;
        }
        self.truncated = true;
        self.done = true;
        false
    }

    /// The page, once the lister is done or the source has no more keys.
    pub fn finish(self) -> Listing<E> {
        let next_marker = if self.truncated {
            self.items.last().map(|i| i.marker().to_owned())
        } else {
            None
        };
        Listing {
            items: self.items,
            is_truncated: self.truncated,
            next_marker,
        }
    }
}

/// An exclusive bound below which no key starting with `prefix` sorts, as high as UTF-8 keys
/// allow: the prefix with its last byte decremented then 0xFF (`None` for the empty prefix).
fn just_below(prefix: &[u8]) -> Option<Vec<u8>> {
    let (&last, head) = prefix.split_last()?;
    let mut bound = head.to_vec();
    if last > 0 {
        bound.extend_from_slice(&[last - 1, 0xFF]);
    }
    Some(bound)
}

/// What [`ShardMerge::poll_next`] has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Merged<E> {
    /// The smallest key not yet returned.
    Item {
        /// The shard it came from.
        shard: u32,
        /// The key.
        key: Vec<u8>,
        /// Its value.
        value: E,
    },
    /// Some shard's buffer is empty: fetch [`ShardMerge::wants`] and feed the pages.
    NeedData,
    /// Every shard is exhausted.
    Done,
}

#[derive(Debug)]
struct Shard<E> {
    buf: VecDeque<(Vec<u8>, E)>,
    /// The next fetch starts after this (exclusive).
    after: Option<Vec<u8>>,
    /// Nothing is left beyond `buf`.
    complete: bool,
}

/// A k-way merge of sorted shards fetched a page at a time. Pure: the driver fetches.
///
/// Picking the smallest head is a linear scan: bucket shard counts are small (tens), and a
/// heap would have to be rebuilt on every [`ShardMerge::seek`].
#[derive(Debug)]
pub struct ShardMerge<E> {
    shards: Vec<Shard<E>>,
}

impl<E> ShardMerge<E> {
    /// A merge of `shards` shards (at least one), returning keys after `start_after`.
    pub fn new(shards: u32, start_after: Option<Vec<u8>>) -> ShardMerge<E> {
        let shards = (0..shards.max(1))
            .map(|_| Shard {
                buf: VecDeque::new(),
                after: start_after.clone(),
                complete: false,
            })
            .collect();
        ShardMerge { shards }
    }

    /// The shards to fetch before the merge can go on, each with its exclusive start.
    pub fn wants(&self) -> Vec<(u32, Option<Vec<u8>>)> {
        (0u32..)
            .zip(&self.shards)
            .filter(|(_, s)| s.buf.is_empty() && !s.complete)
            .map(|(i, s)| (i, s.after.clone()))
            .collect()
    }

    /// A page of `shard` in key order, starting after the position [`ShardMerge::wants`]
    /// gave; `complete` if the shard has nothing after it. Keys already skipped are dropped,
    /// so a page fetched before a seek is harmless. An empty page ends the shard (a source
    /// that returns nothing has nothing more). An unknown shard is a driver bug, ignored.
    pub fn handle_page(&mut self, shard: u32, page: Vec<(Vec<u8>, E)>, complete: bool) {
        let Some(s) = self.shards.get_mut(shard as usize) else {
            debug_assert!(false, "page for unknown shard {shard}");
            return;
        };
        s.complete |= complete || page.is_empty();
        for (key, value) in page {
            // `after` only grows and a seek raises it, so this drops skipped keys too.
            if s.after.as_ref().is_none_or(|a| key > *a) {
                s.after = Some(key.clone());
                s.buf.push_back((key, value));
            }
        }
    }

    /// Drops every key at or below `after`, buffered or not yet fetched.
    pub fn seek(&mut self, after: Vec<u8>) {
        for s in &mut self.shards {
            while s.buf.front().is_some_and(|(k, _)| *k <= after) {
                s.buf.pop_front();
            }
            if s.after.as_ref().is_none_or(|a| *a < after) {
                s.after = Some(after.clone());
            }
        }
    }

    /// The next key across all shards, if every shard that may hold a smaller one has it
    /// buffered.
    pub fn poll_next(&mut self) -> Merged<E> {
        let mut best: Option<(usize, &[u8])> = None;
        for (i, s) in self.shards.iter().enumerate() {
            match s.buf.front() {
                None if !s.complete => return Merged::NeedData,
                Some((k, _)) if best.is_none_or(|(_, b)| k.as_slice() < b) => best = Some((i, k)),
                _ => {}
            }
        }
        let Some((i, _)) = best else {
            return Merged::Done;
        };
        match self.shards[i].buf.pop_front() {
            Some((key, value)) => Merged::Item {
                shard: i as u32,
                key,
                value,
            },
            None => Merged::Done,
        }
    }
}

/// How many entries to ask each shard for: enough that one round usually fills the page.
/// Hashing spreads keys binomially, so mean plus three standard deviations rarely falls short;
/// a short shard just costs another round. Delimiter listings may need more rounds anyway.
pub fn page_size(max_keys: usize, shards: u32) -> u32 {
    let mean = (max_keys.saturating_add(1) / shards.max(1) as usize).saturating_add(1);
    let want = mean.saturating_add(3 * mean.isqrt());
    want.clamp(16, 1000) as u32
}

/// The omap position to list a shard after, for a position among keys under `prefix`.
fn omap_after(prefix: &[u8], pos: Option<&[u8]>) -> Vec<u8> {
    match pos {
        Some(p) => [prefix, p].concat(),
        // Below every key under the prefix, above nothing before it.
        None => just_below(prefix).unwrap_or_default(),
    }
}

/// Omap keys (or object keys) with raw values.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A raw omap page as keys under `prefix` (prefix stripped) and raw entries, and whether
/// the shard ends with it: fewer than `limit` entries, or a key past the prefix.
fn entries_page(prefix: &[u8], raw: Entries, limit: u32) -> (Entries, bool) {
    let mut complete = raw.len() < limit as usize;
    let mut page = Vec::with_capacity(raw.len());
    for (key, value) in raw {
        let Some(k) = key.strip_prefix(prefix) else {
            complete = true;
            break;
        };
        page.push((k.to_vec(), value));
    }
    (page, complete)
}

/// Lists a bucket's index. Entries are decoded only for the objects returned, not for keys
/// rolled into common prefixes. A shard object not created yet counts as empty.
pub async fn list_bucket(
    index: &rados::IoCtx,
    bucket_id: &str,
    shards: u32,
    params: &ListParams,
) -> GwResult<Listing<IndexEntry>> {
    let listing = list_raw(index, bucket_id, shards, Lister::new(params), ENTRY_PREFIX).await?;
    decode_items(listing, |key| index_oid(bucket_id, shard_of(key, shards)))
}

/// Lists a bucket's version records (ListObjectVersions), newest first within a key. Item
/// keys are `<key>\0<position>` as [`Lister::of_versions`] takes them; `params.start_after`
/// is such a key too.
pub async fn list_versions(
    index: &rados::IoCtx,
    bucket_id: &str,
    shards: u32,
    params: &ListParams,
) -> GwResult<Listing<ObjectMeta>> {
    let lister = Lister::of_versions(params);
    let listing = list_raw(index, bucket_id, shards, lister, VERSION_PREFIX).await?;
    decode_items(listing, |composite| {
        let key = composite.rsplit_once('\0').map_or(composite, |(k, _)| k);
        index_oid(bucket_id, shard_of(key, shards))
    })
}

/// Decodes the entries of the objects a listing returns (`oid`: where a key's entry is).
fn decode_items<E: serde::de::DeserializeOwned>(
    listing: Listing<Vec<u8>>,
    oid: impl Fn(&str) -> String,
) -> GwResult<Listing<E>> {
    let items = listing
        .items
        .into_iter()
        .map(|item| match item {
            Item::Object { key, entry } => {
                let entry = decode::<E>(&oid(&key), &entry)?;
                Ok(Item::Object { key, entry })
            }
            Item::CommonPrefix(cp) => Ok(Item::CommonPrefix(cp)),
        })
        .collect::<GwResult<_>>()?;
    Ok(Listing {
        items,
        is_truncated: listing.is_truncated,
        next_marker: listing.next_marker,
    })
}

/// Drives `lister` over the omap entries under `prefix` of a bucket's index shards.
async fn list_raw(
    index: &rados::IoCtx,
    bucket_id: &str,
    shards: u32,
    mut lister: Lister<Vec<u8>>,
    prefix: &[u8],
) -> GwResult<Listing<Vec<u8>>> {
    let shards = shards.max(1);
    let mut merge = ShardMerge::new(shards, lister.seek_start());
    let limit = page_size(lister.max_keys, shards);
    while !lister.is_done() {
        match merge.poll_next() {
            Merged::Item { shard, key, value } => {
                let key = String::from_utf8(key).map_err(|e| GwError::BadRecord {
                    object: index_oid(bucket_id, shard),
                    reason: format!("index key is not UTF-8: {e}"),
                })?;
                match lister.handle_key(key, value) {
                    Step::Continue => {}
                    Step::Seek(after) => merge.seek(after),
                    Step::Done => break,
                }
            }
            Merged::NeedData => {
                let fetches = merge.wants().into_iter().map(|(shard, pos)| async move {
                    let oid = index_oid(bucket_id, shard);
                    let after = omap_after(prefix, pos.as_deref());
                    match index.omap_list(&oid, Some(&after), limit).await {
                        Ok(raw) => Ok((shard, entries_page(prefix, raw, limit))),
                        Err(e) if e.is_not_found() => Ok((shard, (Vec::new(), true))),
                        Err(e) => Err(GwError::from(e)),
                    }
                });
                for (shard, (page, complete)) in try_join_all(fetches).await? {
                    merge.handle_page(shard, page, complete);
                }
            }
            Merged::Done => break,
        }
    }
    Ok(lister.finish())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    /// Lists `keys` spread over `shards` in-memory shards, paging by `page`; also returns how
    /// many entries the shards handed out.
    fn run(
        keys: &BTreeSet<String>,
        shards: u32,
        page: usize,
        p: &ListParams,
    ) -> (Listing<()>, usize) {
        let mut data: Vec<Vec<Vec<u8>>> = vec![Vec::new(); shards.max(1) as usize];
        for k in keys {
            data[shard_of(k, shards) as usize].push(k.as_bytes().to_vec());
        }
        let mut lister = Lister::new(p);
        let mut merge = ShardMerge::new(shards, lister.seek_start());
        let mut fetched = 0;
        while !lister.is_done() {
            match merge.poll_next() {
                Merged::Item { key, .. } => {
                    match lister.handle_key(String::from_utf8(key).unwrap(), ()) {
                        Step::Continue => {}
                        Step::Seek(after) => merge.seek(after),
                        Step::Done => break,
                    }
                }
                Merged::NeedData => {
                    for (shard, pos) in merge.wants() {
                        let got: Vec<_> = data[shard as usize]
                            .iter()
                            .filter(|k| pos.as_ref().is_none_or(|p| *k > p))
                            .take(page)
                            .map(|k| (k.clone(), ()))
                            .collect();
                        fetched += got.len();
                        let complete = got.len() < page;
                        merge.handle_page(shard, got, complete);
                    }
                }
                Merged::Done => break,
            }
        }
        (lister.finish(), fetched)
    }

    /// The S3 rules, brute force: every key, sorted, filtered, rolled up, truncated.
    fn naive(keys: &BTreeSet<String>, p: &ListParams) -> Listing<()> {
        let delim = p.delimiter.as_deref().filter(|d| !d.is_empty());
        let mut all: Vec<Item<()>> = Vec::new();
        for k in keys {
            if !k.starts_with(&p.prefix) || p.start_after.as_ref().is_some_and(|s| k <= s) {
                continue;
            }
            let rest = &k[p.prefix.len()..];
            let item = match delim.and_then(|d| rest.find(d).map(|i| i + d.len())) {
                Some(n) => Item::CommonPrefix(k[..p.prefix.len() + n].to_owned()),
                None => Item::Object {
                    key: k.clone(),
                    entry: (),
                },
            };
            let dup = matches!((&item, all.last()), (Item::CommonPrefix(a), Some(Item::CommonPrefix(b))) if a == b);
            let old = matches!(&item, Item::CommonPrefix(cp) if p.start_after.as_ref().is_some_and(|s| cp <= s));
            if !dup && !old {
                all.push(item);
            }
        }
        let is_truncated = p.max_keys > 0 && all.len() > p.max_keys;
        all.truncate(p.max_keys);
        let next_marker = is_truncated
            .then(|| all.last().map(|i| i.marker().to_owned()))
            .flatten();
        Listing {
            items: all,
            is_truncated,
            next_marker,
        }
    }

    fn params(prefix: &str, delim: Option<&str>, after: Option<&str>, max: usize) -> ListParams {
        ListParams {
            prefix: prefix.into(),
            delimiter: delim.map(Into::into),
            start_after: after.map(Into::into),
            max_keys: max,
        }
    }

    fn markers(l: &Listing<()>) -> Vec<&str> {
        l.items.iter().map(Item::marker).collect()
    }

    /// Lists space-separated `keys` over a few shard counts and page sizes and checks the
    /// markers against `want` (space-separated, ending in "..." if truncated) and the model.
    fn check(keys: &str, (pre, delim, after, max): Case, want: &str) {
        let ks = keys.split_whitespace().map(String::from).collect();
        let p = params(pre, delim, after, max);
        let truncated = want.ends_with("...");
        let want: Vec<_> = want.trim_end_matches("...").split_whitespace().collect();
        for shards in [1, 3, 7] {
            for page in [1, 2, 100] {
                let (got, _) = run(&ks, shards, page, &p);
                assert_eq!(markers(&got), want, "{p:?} shards={shards} page={page}");
                assert_eq!(got.is_truncated, truncated, "{p:?}");
                assert_eq!(got, naive(&ks, &p));
            }
        }
    }

    type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, usize);

    const TREE: &str = "a a/b a/c/d b/x b/y c photos/2024/x.jpg photos/a";

    #[test]
    fn max_keys_zero_is_empty_and_not_truncated() {
        check(TREE, ("", None, None, 0), "");
        check(TREE, ("", Some("/"), None, 0), "");
    }

    #[test]
    fn flat_and_prefixed_listings() {
        check(TREE, ("", None, None, 100), TREE);
        check(TREE, ("a", None, None, 100), "a a/b a/c/d");
        check(TREE, ("photos/", None, None, 1), "photos/2024/x.jpg ...");
        check(TREE, ("zzz", None, None, 10), "");
    }

    #[test]
    fn delimiter_rolls_up_once_and_counts_toward_max_keys() {
        check(TREE, ("", Some("/"), None, 100), "a a/ b/ c photos/");
        check(TREE, ("", Some("/"), None, 3), "a a/ b/ ...");
        check(TREE, ("a/", Some("/"), None, 100), "a/b a/c/");
        check(
            TREE,
            ("photos/", Some("/"), None, 100),
            "photos/2024/ photos/a",
        );
        // Not found after the prefix: plain objects.
        check(TREE, ("", Some("#"), None, 100), TREE);
        // Empty delimiter means none.
        check(TREE, ("b", Some(""), None, 100), "b/x b/y");
    }

    #[test]
    fn multi_char_delimiter() {
        let ks = "x--y--z x--y x-y xy-- z";
        check(ks, ("", Some("--"), None, 100), "x-- x-y xy-- z");
        check(ks, ("x--", Some("--"), None, 100), "x--y x--y--");
    }

    #[test]
    fn marker_inside_a_common_prefix_skips_it() {
        check(TREE, ("", Some("/"), Some("a/b"), 100), "b/ c photos/");
        check(TREE, ("", Some("/"), Some("a/"), 100), "b/ c photos/");
        // "a" < "a/": the common prefix is still ahead of the marker.
        check(TREE, ("", Some("/"), Some("a"), 100), "a/ b/ c photos/");
        check(TREE, ("", None, Some("a/b"), 2), "a/c/d b/x ...");
        check(TREE, ("b", None, Some("a"), 100), "b/x b/y");
        check(TREE, ("a", None, Some("zz"), 100), "");
    }

    #[test]
    fn multibyte_keys_sort_by_bytes() {
        let ks = "é/1 é/2 e/1 z € 日本/語";
        check(ks, ("", Some("/"), None, 100), "e/ z é/ € 日本/");
        check(ks, ("日", Some("/"), None, 100), "日本/");
        check(ks, ("", None, Some("é/1"), 100), "é/2 € 日本/語");
        check(ks, ("", Some("本"), None, 1), "e/1 ...");
    }

    #[test]
    fn a_common_prefix_costs_a_seek_not_its_keys() {
        let mut ks: BTreeSet<String> = (0..2000).map(|i| format!("big/{i:05}")).collect();
        ks.insert("z".into());
        let (got, fetched) = run(&ks, 4, 16, &params("", Some("/"), None, 10));
        assert_eq!(markers(&got), ["big/", "z"]);
        assert!(fetched < 200, "fetched {fetched}");
        // Keys below the prefix are never fetched either.
        let (got, fetched) = run(&ks, 4, 16, &params("z", None, None, 10));
        assert_eq!(markers(&got), ["z"]);
        assert_eq!(fetched, 1);
    }

    #[test]
    fn seek_start_stays_below_the_prefix() {
        let l: Lister<()> = Lister::new(&params("b/", None, Some("a"), 1));
        let start = l.seek_start().unwrap();
        assert!(start.as_slice() < b"b/".as_slice() && start.as_slice() > b"b.zzz".as_slice());
        let l: Lister<()> = Lister::new(&params("b/", None, Some("b/c"), 1));
        assert_eq!(l.seek_start(), Some(b"b/c".to_vec()));
        assert_eq!(
            Lister::<()>::new(&params("", None, None, 1)).seek_start(),
            None
        );
        assert_eq!(just_below(b"a\0"), Some(b"a".to_vec()));
    }

    #[test]
    fn merge_drops_stale_pages_and_ends_on_empty_page() {
        let item = |key: &[u8], value| Merged::Item {
            shard: 0,
            key: key.to_vec(),
            value,
        };
        let mut m: ShardMerge<u8> = ShardMerge::new(2, None);
        assert_eq!(m.wants(), vec![(0, None), (1, None)]);
        m.handle_page(0, vec![(b"a".to_vec(), 1), (b"c".to_vec(), 3)], false);
        assert_eq!(m.poll_next(), Merged::NeedData);
        m.handle_page(1, vec![], false);
        assert_eq!(m.poll_next(), item(b"a", 1));
        m.seek(b"c".to_vec());
        assert_eq!(m.wants(), vec![(0, Some(b"c".to_vec()))]);
        // A page from before the seek: its keys are dropped, its position kept.
        m.handle_page(0, vec![(b"b".to_vec(), 2), (b"d".to_vec(), 4)], true);
        assert_eq!(m.poll_next(), item(b"d", 4));
        assert_eq!(m.poll_next(), Merged::Done);
    }

    #[test]
    fn omap_pages_strip_entries_and_stop_at_pending_keys() {
        let e = |k: &[u8]| (k.to_vec(), vec![]);
        let (page, complete) = entries_page(ENTRY_PREFIX, vec![e(b"o/a"), e(b"o/b")], 2);
        assert_eq!((page.len(), complete), (2, false));
        assert_eq!(page[1].0, b"b");
        let (page, complete) = entries_page(ENTRY_PREFIX, vec![e(b"o/a"), e(b"p/a\0t")], 2);
        assert_eq!((page.len(), complete), (1, true));
        assert!(omap_after(ENTRY_PREFIX, None).as_slice() < b"o/".as_slice());
        assert_eq!(omap_after(ENTRY_PREFIX, Some(b"x")), b"o/x");
        assert!(omap_after(VERSION_PREFIX, None).as_slice() > b"p/~".as_slice());
        assert_eq!(omap_after(VERSION_PREFIX, Some(b"x\0f")), b"v/x\0f");
    }

    #[test]
    fn version_keys_roll_up_on_the_key_alone() {
        let params = ListParams {
            delimiter: Some("f".into()),
            max_keys: 10,
            ..ListParams::default()
        };
        let mut lister = Lister::of_versions(&params);
        // A hex position holding the delimiter is not a common prefix; a key holding it is.
        for key in ["a\0fffe", "a\0ffff", "buff\0fffe", "buff\0ffff", "c\0f0"] {
            lister.handle_key(key.to_owned(), ());
        }
        let items = lister.finish().items;
        let shown: Vec<&str> = items.iter().map(Item::marker).collect();
        assert_eq!(shown, vec!["a\0fffe", "a\0ffff", "buf", "c\0f0"]);
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(0, 1), 16);
        assert_eq!(page_size(1000, 1), 1000);
        assert_eq!(page_size(usize::MAX, 1), 1000);
        let p = page_size(1000, 11);
        assert!((100..200).contains(&p), "{p}");
    }

    fn arb_key() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec!['a', 'b', '/', 'é']), 0..6)
            .prop_map(String::from_iter)
    }

    fn arb_params(max: std::ops::Range<usize>) -> impl Strategy<Value = ListParams> {
        let delim = prop::option::of(prop::sample::select(vec!["/", "b/", "é", "", "a"]));
        (
            arb_key().prop_map(|k| k.chars().take(2).collect()),
            delim,
            prop::option::of(arb_key()),
            max,
        )
            .prop_map(|(prefix, d, start_after, max_keys)| ListParams {
                prefix,
                delimiter: d.map(Into::into),
                start_after,
                max_keys,
            })
    }

    proptest! {
        #[test]
        fn matches_the_naive_model(
            ks in prop::collection::btree_set(arb_key(), 0..40),
            shards in 1u32..5,
            page in 1usize..5,
            p in arb_params(0..8),
        ) {
            prop_assert_eq!(run(&ks, shards, page, &p).0, naive(&ks, &p));
        }

        #[test]
        fn paging_by_next_marker_lists_everything_once(
            ks in prop::collection::btree_set(arb_key(), 0..40),
            shards in 1u32..5,
            page in 1usize..5,
            p in arb_params(1..6),
        ) {
            let full = naive(&ks, &ListParams { max_keys: usize::MAX, ..p.clone() });
            let mut got = Vec::new();
            let mut p = p;
            loop {
                let (l, _) = run(&ks, shards, page, &p);
                got.extend(l.items);
                if !l.is_truncated {
                    break;
                }
                prop_assert!(l.next_marker > p.start_after);
                p.start_after = l.next_marker;
            }
            prop_assert_eq!(got, full.items);
        }
    }
}
