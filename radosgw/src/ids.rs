//! Random identifiers: bucket ids, write tags, upload ids, access keys and secrets, monitor
//! request ids. All come
//! from the OS's CSPRNG, since secrets and upload ids must not be guessable.

const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the OS random source is available");
    buf
}

/// A random request id (a monitor command's, the same on every retry).
pub fn random_u64() -> u64 {
    u64::from_be_bytes(random_bytes::<8>())
}

/// `n` random bytes as lowercase hex (2n characters).
pub fn random_hex<const N: usize>() -> String {
    hex::encode(random_bytes::<N>())
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    // Bytes at or above the largest multiple of the alphabet's size are dropped, so every
    // character is equally likely.
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<64>() {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

/// A new access key id (20 upper-case alphanumerics, like AWS's).
pub fn access_key() -> String {
    random_from(KEY_ALPHABET, 20)
}

/// A new secret key (40 alphanumerics).
pub fn secret_key() -> String {
    random_from(SECRET_ALPHABET, 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_shape_and_differ() {
        let a = access_key();
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|b| KEY_ALPHABET.contains(&b)));
        assert_ne!(a, access_key());
        let s = secret_key();
        assert_eq!(s.len(), 40);
        assert_ne!(s, secret_key());
        assert_eq!(random_hex::<8>().len(), 16);
    }
}
