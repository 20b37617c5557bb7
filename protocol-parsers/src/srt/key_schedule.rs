//! Sender-side key refresh, as libsrt's `kmrefreshrate` / `kmpreannounce`: after
//! `every − preannounce` packets under the active key, a new key of the other parity
//! is made and announced (KMREQ, both keys); after `every` packets the sender switches
//! to it; `preannounce` packets later the old key is decommissioned (KMREQ, the new key
//! alone). A KMREQ is sent again until the peer answers with KMRSP, at most
//! [`MAX_KM_TRIES`] times.
//!
//! New keys come from a CTR-mode generator (AES-256 keystream) keyed with 32 bytes the
//! caller drew from the OS's CSPRNG at connect, so this crate stays sans-IO.

use std::time::{Duration, Instant};

use aes::Aes256;
use aes::cipher::{KeyIvInit, StreamCipher};
use bytes::Bytes;

use super::KmError;
use super::cipher::{Cipher, KeyIndex};

/// libsrt's defaults (`SRT_DEF_KMREFRESHRATE`, `SRT_DEF_KMPREANNOUNCE`).
pub const DEFAULT_REFRESH_PACKETS: u64 = 1 << 24;
pub const DEFAULT_PREANNOUNCE_PACKETS: u64 = 1 << 16;
/// libsrt gives up re-sending a KMREQ after this many tries (`SRT_MAX_KMRETRY`).
const MAX_KM_TRIES: u8 = 10;
/// A KMREQ unanswered for this long, or 1.5 RTT if longer, is sent again.
const MIN_KM_RESEND: Duration = Duration::from_millis(50);

/// How often the sender changes keys, and the seed of its key generator.
#[derive(Clone)]
pub struct KeyRefresh {
    /// Packets sent under one key.
    pub every: u64,
    /// Packets before the switch when the next key is announced, and after it when the
    /// old one is retired. At most (every − 1) / 2, as libsrt requires.
    pub preannounce: u64,
    /// Fresh CSPRNG output; never reuse it for another connection.
    pub seed: [u8; 32],
}

impl std::fmt::Debug for KeyRefresh {
    /// Never prints the seed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRefresh")
            .field("every", &self.every)
            .field("preannounce", &self.preannounce)
            .finish_non_exhaustive()
    }
}

/// A KMREQ awaiting its KMRSP.
#[derive(Debug)]
struct Pending {
    km: Bytes,
    sent_at: Instant,
    tries: u8,
}

pub(super) struct KeySchedule {
    every: u64,
    preannounce: u64,
    generator: ctr::Ctr128BE<Aes256>,
    active: KeyIndex,
    /// Packets encrypted under the active key.
    sent: u64,
    /// The previous key, until it is retired.
    retiring: Option<KeyIndex>,
    pending: Option<Pending>,
}

impl std::fmt::Debug for KeySchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySchedule")
            .field("active", &self.active)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

/// What the connection must send for the schedule.
pub(super) enum KeyAction {
    /// A KMREQ with this key material.
    Announce(Bytes),
}

impl KeySchedule {
    pub(super) fn new(refresh: &KeyRefresh, active: KeyIndex) -> Self {
        let preannounce = refresh.preannounce.min(refresh.every.saturating_sub(1) / 2);
        Self {
            every: refresh.every.max(3),
            preannounce: preannounce.max(1),
            generator: ctr::Ctr128BE::<Aes256>::new(&refresh.seed.into(), &[0; 16].into()),
            active,
            sent: 0,
            retiring: None,
            pending: None,
        }
    }

    /// The key to encrypt the next packet with.
    pub(super) fn active(&self) -> KeyIndex {
        self.active
    }

    /// Counts one packet encrypted under the active key and advances the schedule.
    pub(super) fn on_sent(
        &mut self,
        now: Instant,
        cipher: &mut Cipher,
        passphrase: &str,
    ) -> Result<Option<KeyAction>, KmError> {
        self.sent += 1;
        let next = other(self.active);
        if self.sent == self.every - self.preannounce {
            let mut key = [0u8; 32];
            let len = cipher.key_len();
            let key = key
                .get_mut(..len)
                .ok_or(KmError::UnsupportedKeyLength(len))?;
            self.generator.apply_keystream(key);
            let km = cipher.regenerate(next, passphrase, key)?;
            key.fill(0);
            return Ok(Some(self.announce(now, Bytes::from(km.encode()))));
        }
        if self.sent == self.every && cipher.has_key(next) {
            self.retiring = Some(self.active);
            self.active = next;
            self.sent = 0;
            return Ok(None);
        }
        if self.sent == self.preannounce
            && let Some(old) = self.retiring.take()
        {
            let km = cipher.retire(old, passphrase)?;
            return Ok(Some(self.announce(now, Bytes::from(km.encode()))));
        }
        Ok(None)
    }

    fn announce(&mut self, now: Instant, km: Bytes) -> KeyAction {
        self.pending = Some(Pending {
            km: km.clone(),
            sent_at: now,
            tries: 1,
        });
        KeyAction::Announce(km)
    }

    /// The peer answered a KMREQ.
    pub(super) fn on_response(&mut self, payload: &[u8]) {
        if self.pending.as_ref().is_some_and(|p| p.km == payload) {
            self.pending = None;
        }
    }

    /// When an unanswered KMREQ is due to be sent again.
    pub(super) fn next_deadline(&self, rtt: Duration) -> Option<Instant> {
        let pending = self.pending.as_ref()?;
        Some(pending.sent_at + resend_period(rtt))
    }

    /// The KMREQ to send again, if one is due.
    pub(super) fn on_timeout(&mut self, now: Instant, rtt: Duration) -> Option<KeyAction> {
        let pending = self.pending.as_mut()?;
        if now < pending.sent_at + resend_period(rtt) {
            return None;
        }
        if pending.tries >= MAX_KM_TRIES {
            self.pending = None;
            return None;
        }
        pending.tries += 1;
        pending.sent_at = now;
        Some(KeyAction::Announce(pending.km.clone()))
    }
}

fn resend_period(rtt: Duration) -> Duration {
    (rtt * 3 / 2).max(MIN_KM_RESEND)
}

fn other(index: KeyIndex) -> KeyIndex {
    match index {
        KeyIndex::Even => KeyIndex::Odd,
        KeyIndex::Odd => KeyIndex::Even,
    }
}
