//! How a key is stored in a table entry: up to 22 bytes inline, longer ones on the heap.
//!
//! Most keys are short (`user:1000`, `key:000000123456`). Keeping them inside the entry
//! saves an allocation per key and, more importantly, the cache miss of following a
//! pointer to compare the key on every lookup (measured: the key comparison was the
//! largest single cost of GET and SET on a 1M-key table when keys were boxed).

use std::fmt;
use std::ops::Deref;

const INLINE_BYTES: usize = 22;

#[derive(Clone)]
pub enum Key {
    Inline { len: u8, bytes: [u8; INLINE_BYTES] },
    Heap(Box<[u8]>),
}

const _: () = assert!(std::mem::size_of::<Key>() == 24);

impl Deref for Key {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..*len as usize],
            Key::Heap(bytes) => bytes,
        }
    }
}

impl From<&[u8]> for Key {
    fn from(key: &[u8]) -> Self {
        if key.len() <= INLINE_BYTES {
            let mut bytes = [0u8; INLINE_BYTES];
            bytes[..key.len()].copy_from_slice(key);
            Key::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(key.into())
        }
    }
}

impl From<Vec<u8>> for Key {
    fn from(key: Vec<u8>) -> Self {
        if key.len() <= INLINE_BYTES {
            Key::from(key.as_slice())
        } else {
            Key::Heap(key.into_boxed_slice())
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        **self == **other
    }
}

impl Eq for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_inline_and_long_ones_boxed() {
        let short = Key::from(&b"key:000000123456"[..]);
        assert!(matches!(short, Key::Inline { .. }));
        assert_eq!(&*short, b"key:000000123456");
        let long = Key::from(vec![b'x'; 23]);
        assert!(matches!(long, Key::Heap(_)));
        assert_eq!(long.len(), 23);
        assert_eq!(Key::from(&b""[..]).len(), 0);
        assert_eq!(Key::from(vec![b'a'; 22]), Key::from(&[b'a'; 22][..]));
    }
}
