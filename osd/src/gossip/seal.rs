//! Gossip packets signed with the cluster key. Gossip runs over plain UDP, so without this
//! anyone who can reach an OSD's gossip port could make it report false failures. Every
//! packet gets a trailer: the sender's OSD id and boot, a counter, its send time, and an
//! HMAC-SHA256 tag (truncated to 16 bytes) over all of it. A receiver drops a packet whose
//! tag does not verify (forged or altered), one it already accepted, or one older than
//! [`MAX_AGE_MS`] by its own clock (a replay).
//!
//! Replays are caught per sender with a 64-packet sliding window over the counter (as
//! IPsec does, RFC 4303 3.4.3), reset when the sender boots again. A receiver that restarts
//! forgets its windows; the age bound keeps what could be replayed to it then to packets of
//! the last [`MAX_AGE_MS`], each accepted once. Clocks of OSDs must agree within that bound
//! (NTP); a packet from further ahead is dropped too.
//!
//! Pure: the caller passes the time.

use std::collections::HashMap;

use placement::OsdId;
use ring::hmac;

/// Bytes the trailer adds to a packet: osd (4), boot (8), counter (8), sent_ms (8), tag (16).
pub const TRAILER: usize = 4 + 8 + 8 + 8 + TAG;

const TAG: usize = 16;

/// A packet older (or further ahead) than this by the receiver's clock is dropped.
pub const MAX_AGE_MS: u64 = 30_000;

/// Separates these tags from any other use of the cluster key.
const DOMAIN: &[u8] = b"shoal gossip v1\0";

/// The key gossip packets are signed with, derived from the cluster key's secret.
#[derive(Clone)]
pub struct GossipKey(hmac::Key);

impl GossipKey {
    /// The gossip key of a cluster whose private key (DER) is `secret`.
    pub fn from_secret(secret: &[u8]) -> GossipKey {
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), DOMAIN);
        GossipKey(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()))
    }

    fn tag(&self, signed: &[u8]) -> [u8; TAG] {
        let full = hmac::sign(&self.0, signed);
        let mut tag = [0; TAG];
        tag.copy_from_slice(&full.as_ref()[..TAG]);
        tag
    }
}

/// Signs the packets one OSD instance sends.
pub struct Sealer {
    key: GossipKey,
    osd: OsdId,
    boot: u64,
    counter: u64,
}

impl Sealer {
    /// The sealer of `osd` in the instance that booted in epoch `boot`.
    pub fn new(key: GossipKey, osd: OsdId, boot: u64) -> Sealer {
        Sealer {
            key,
            osd,
            boot,
            counter: 0,
        }
    }

    /// `packet` with its trailer, sent at `now_ms` (Unix time).
    pub fn seal(&mut self, packet: &[u8], now_ms: u64) -> Vec<u8> {
        self.counter += 1;
        let mut out = Vec::with_capacity(packet.len() + TRAILER);
        out.extend_from_slice(packet);
        out.extend_from_slice(&self.osd.0.to_be_bytes());
        out.extend_from_slice(&self.boot.to_be_bytes());
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.extend_from_slice(&now_ms.to_be_bytes());
        let tag = self.key.tag(&out);
        out.extend_from_slice(&tag);
        out
    }
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Too short to carry a trailer.
    Short,
    /// The tag does not verify: not signed with the cluster key, or altered.
    Forged,
    /// Accepted before, or from an earlier boot of its sender than one already heard.
    Replayed,
    /// Sent longer than [`MAX_AGE_MS`] ago, or that far ahead, by our clock.
    Stale,
}

impl Dropped {
    /// Every reason, in [`Dropped::index`] order.
    pub const ALL: [Dropped; 4] = [
        Dropped::Short,
        Dropped::Forged,
        Dropped::Replayed,
        Dropped::Stale,
    ];

    /// Its place in [`Dropped::ALL`] (a counter array's index).
    pub fn index(self) -> usize {
        self as usize
    }

    /// A label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::Short => "short",
            Dropped::Forged => "forged",
            Dropped::Replayed => "replayed",
            Dropped::Stale => "stale",
        }
    }
}

/// Checks the packets one OSD receives.
pub struct Opener {
    key: GossipKey,
    /// Per sender: its boot and replay window.
    windows: HashMap<OsdId, Window>,
}

impl Opener {
    /// An opener with no sender heard yet.
    pub fn new(key: GossipKey) -> Opener {
        Opener {
            key,
            windows: HashMap::new(),
        }
    }

    /// The packet inside `datagram`, received at `now_ms` (Unix time), if it is authentic
    /// and new; its sender's window then records it.
    pub fn open<'a>(&mut self, datagram: &'a [u8], now_ms: u64) -> Result<&'a [u8], Dropped> {
        let Some(split) = datagram.len().checked_sub(TRAILER) else {
            return Err(Dropped::Short);
        };
        let (signed, tag) = datagram.split_at(datagram.len() - TAG);
        let want = self.key.tag(signed);
        if !constant_time_eq(&want, tag) {
            return Err(Dropped::Forged);
        }
        let field = |at: usize, len: usize| &datagram[split + at..split + at + len];
        let osd = OsdId(u32::from_be_bytes(field(0, 4).try_into().expect("4 bytes")));
        let boot = u64::from_be_bytes(field(4, 8).try_into().expect("8 bytes"));
        let counter = u64::from_be_bytes(field(12, 8).try_into().expect("8 bytes"));
        let sent_ms = u64::from_be_bytes(field(20, 8).try_into().expect("8 bytes"));
        if now_ms.abs_diff(sent_ms) > MAX_AGE_MS {
            return Err(Dropped::Stale);
        }
        let window = self.windows.entry(osd).or_insert(Window {
            boot,
            highest: 0,
            seen: 0,
        });
        window.accept(boot, counter)?;
        Ok(&datagram[..split])
    }
}

/// Which of a sender's last 64 counters were accepted.
#[derive(Debug)]
struct Window {
    boot: u64,
    highest: u64,
    /// Bit `i`: counter `highest - i` was accepted.
    seen: u64,
}

impl Window {
    fn accept(&mut self, boot: u64, counter: u64) -> Result<(), Dropped> {
        if boot < self.boot {
            return Err(Dropped::Replayed);
        }
        if boot > self.boot {
            *self = Window {
                boot,
                highest: 0,
                seen: 0,
            };
        }
        if counter > self.highest {
            let shift = counter - self.highest;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.highest = counter;
            return Ok(());
        }
        let age = self.highest - counter;
        let bit = 1u64.checked_shl(age as u32).filter(|_| age < 64);
        match bit {
            Some(bit) if self.seen & bit == 0 => {
                self.seen |= bit;
                Ok(())
            }
            _ => Err(Dropped::Replayed),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn key(secret: &[u8]) -> GossipKey {
        GossipKey::from_secret(secret)
    }

    #[test]
    fn a_sealed_packet_opens_to_itself_once() {
        let mut alice = Sealer::new(key(b"cluster"), OsdId(1), 7);
        let mut bob = Opener::new(key(b"cluster"));
        let sealed = alice.seal(b"ping", NOW);
        assert_eq!(sealed.len(), 4 + TRAILER);
        assert_eq!(bob.open(&sealed, NOW + 5), Ok(&b"ping"[..]));
        assert_eq!(bob.open(&sealed, NOW + 6), Err(Dropped::Replayed));
    }

    #[test]
    fn another_key_or_any_changed_byte_is_forged() {
        let mut mallory = Sealer::new(key(b"not the cluster"), OsdId(1), 7);
        let mut bob = Opener::new(key(b"cluster"));
        assert_eq!(
            bob.open(&mallory.seal(b"ping", NOW), NOW),
            Err(Dropped::Forged)
        );
        let mut alice = Sealer::new(key(b"cluster"), OsdId(1), 7);
        let sealed = alice.seal(b"ping", NOW);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x40;
            assert_eq!(bob.open(&bad, NOW), Err(Dropped::Forged), "byte {i}");
        }
        assert_eq!(bob.open(&sealed[..TRAILER - 1], NOW), Err(Dropped::Short));
        assert_eq!(
            bob.open(&sealed, NOW),
            Ok(&b"ping"[..]),
            "the original still opens"
        );
    }

    #[test]
    fn reordered_packets_open_within_the_window_and_not_twice() {
        let mut alice = Sealer::new(key(b"k"), OsdId(2), 1);
        let mut bob = Opener::new(key(b"k"));
        let packets: Vec<Vec<u8>> = (0..100).map(|_| alice.seal(b"x", NOW)).collect();
        assert!(bob.open(&packets[80], NOW).is_ok());
        assert!(
            bob.open(&packets[20], NOW).is_ok(),
            "60 behind: inside the window"
        );
        assert_eq!(
            bob.open(&packets[10], NOW),
            Err(Dropped::Replayed),
            "70 behind"
        );
        assert_eq!(bob.open(&packets[20], NOW), Err(Dropped::Replayed));
        assert!(bob.open(&packets[99], NOW).is_ok());
        assert_eq!(bob.open(&packets[80], NOW), Err(Dropped::Replayed));
        assert!(bob.open(&packets[81], NOW).is_ok());
    }

    #[test]
    fn a_new_boot_resets_the_window_and_an_old_boot_is_a_replay() {
        let mut old = Sealer::new(key(b"k"), OsdId(3), 4);
        let mut bob = Opener::new(key(b"k"));
        let before = old.seal(b"a", NOW);
        for _ in 0..10 {
            assert!(bob.open(&old.seal(b"a", NOW), NOW).is_ok());
        }
        let mut new = Sealer::new(key(b"k"), OsdId(3), 9);
        assert!(
            bob.open(&new.seal(b"b", NOW), NOW).is_ok(),
            "counter 1 again"
        );
        assert_eq!(bob.open(&before, NOW), Err(Dropped::Replayed));
    }

    #[test]
    fn packets_older_or_further_ahead_than_the_bound_are_stale() {
        let mut alice = Sealer::new(key(b"k"), OsdId(1), 1);
        let mut bob = Opener::new(key(b"k"));
        let old = alice.seal(b"a", NOW - MAX_AGE_MS - 1);
        assert_eq!(bob.open(&old, NOW), Err(Dropped::Stale));
        let ahead = alice.seal(b"a", NOW + MAX_AGE_MS + 1);
        assert_eq!(bob.open(&ahead, NOW), Err(Dropped::Stale));
        assert!(bob.open(&alice.seal(b"a", NOW - MAX_AGE_MS), NOW).is_ok());
    }
}
