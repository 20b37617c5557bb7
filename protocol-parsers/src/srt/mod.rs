//! SRT (Secure Reliable Transport, draft-sharabayko-srt).

mod cipher;
mod crypto_error;
mod key_material;

pub use cipher::{Cipher, KeyIndex};
pub use crypto_error::KmError;
pub use key_material::{KeyFlags, KeyMaterial};
