//! The audit chain, recomputed outside the database: [`digest`] is `audit.event_digest`
//! (db/functions/10_audit.sql) byte for byte, [`genesis`] is `audit.genesis`, and
//! [`verify`] walks a chain from its first event, checking every hash and link and holding the
//! chain to checkpoints: the database's chain head, and the anchors the `audit-anchor`
//! function wrote to S3 under Object Lock. The database owner can rewrite rows and recompute
//! every hash and the head consistently; an anchor written before the rewrite still disagrees.
//!
//! `audit.event_digest` is `sha256(prev_hash || convert_to(array::text, 'UTF8'))` of the jsonb
//! array `[org_id, chain_seq, actor_id, actor_role, action, target_type, target_id, outcome,
//! request_id, occurred_at, detail]`, with `patient_id` appended when it is set (migration
//! 0029). The text is PostgreSQL's jsonb output: `", "` between elements, `{"k": v}`, object
//! keys in jsonb's order (shorter first, then bytewise; a repeated key keeps its last value),
//! strings escaped as PostgreSQL's `escape_json` does, numbers as `numeric` writes them, and
//! the time as `YYYY-MM-DDTHH24:MI:SS.US` in UTC. [`Event::detail`] is JSON text: PostgreSQL's
//! own (`detail::text`) or any JSON of the same value (numbers are normalised as `numeric_in`
//! reads them: `1e3` is `1000`, `1.50` stays `1.50`).

use sha2::{Digest as _, Sha256};
use std::{fmt, time::SystemTime};
use uuid::Uuid;

/// The chain key of events outside any clinic (their `org_id` is null).
pub const NIL_CHAIN: Uuid = Uuid::nil();

/// The columns [`Event::from_row`] reads, in its order: a plain select of `audit.events`
/// (`detail` as its jsonb text), so a verifier calls none of the database's functions.
pub const EVENT_COLUMNS: &str = "org_id, chain_seq, actor_id, actor_role, action, target_type, \
     target_id, outcome, request_id, occurred_at, detail::text, patient_id, prev_hash, hash";

/// One row of `audit.events`, as the digest covers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub org_id: Option<Uuid>,
    pub chain_seq: i64,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    /// `occurred_at` (PostgreSQL keeps microseconds).
    pub occurred_at: SystemTime,
    /// `detail`, as JSON text.
    pub detail: String,
    pub patient_id: Option<Uuid>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl Event {
    /// The event from a row selected with [`EVENT_COLUMNS`].
    pub fn from_row(row: &tokio_postgres::Row) -> Result<Event, tokio_postgres::Error> {
        Ok(Event {
            org_id: row.try_get(0)?,
            chain_seq: row.try_get(1)?,
            actor_id: row.try_get(2)?,
            actor_role: row.try_get(3)?,
            action: row.try_get(4)?,
            target_type: row.try_get(5)?,
            target_id: row.try_get(6)?,
            outcome: row.try_get(7)?,
            request_id: row.try_get(8)?,
            occurred_at: row.try_get(9)?,
            detail: row.try_get(10)?,
            patient_id: row.try_get(11)?,
            prev_hash: row.try_get(12)?,
            hash: row.try_get(13)?,
        })
    }

    /// The chain the event belongs to: its clinic, or [`NIL_CHAIN`].
    pub fn chain_key(&self) -> Uuid {
        self.org_id.unwrap_or(NIL_CHAIN)
    }
}

/// Why an event's digest cannot be computed: its detail is not JSON PostgreSQL would store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailError(pub String);

impl fmt::Display for DetailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "detail is not valid JSON: {}", self.0)
    }
}

impl std::error::Error for DetailError {}

/// `audit.genesis(chain_key)`: the first event's `prev_hash`.
pub fn genesis(chain_key: Uuid) -> [u8; 32] {
    Sha256::digest(format!("wardline-audit:{chain_key}").as_bytes()).into()
}

/// `audit.event_digest(event)`: the hash the event must carry.
pub fn digest(event: &Event) -> Result<[u8; 32], DetailError> {
    let text = digest_text(event)?;
    let mut hasher = Sha256::new();
    hasher.update(&event.prev_hash);
    hasher.update(text.as_bytes());
    Ok(hasher.finalize().into())
}

/// The jsonb text of the array the digest covers (what `::text` gives in PostgreSQL).
pub fn digest_text(event: &Event) -> Result<String, DetailError> {
    let detail = parse(&event.detail)?;
    let uuid = |u: Option<Uuid>| u.map_or(Json::Null, |u| Json::Str(u.to_string()));
    let text = |t: &Option<String>| t.clone().map_or(Json::Null, Json::Str);
    let mut items = vec![
        uuid(event.org_id),
        Json::Num(event.chain_seq.to_string()),
        uuid(event.actor_id),
        text(&event.actor_role),
        Json::Str(event.action.clone()),
        text(&event.target_type),
        text(&event.target_id),
        Json::Str(event.outcome.clone()),
        text(&event.request_id),
        Json::Str(pg_time(event.occurred_at)),
        detail,
    ];
    if let Some(patient) = event.patient_id {
        items.push(Json::Str(patient.to_string()));
    }
    let mut out = String::new();
    Json::Arr(items).write(&mut out);
    Ok(out)
}

/// `to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`.
pub fn pg_time(t: SystemTime) -> String {
    let micros: i128 = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i128,
        Err(e) => -(e.duration().as_micros() as i128),
    };
    let day_us = 86_400_000_000i128;
    let days = micros.div_euclid(day_us) as i64;
    let of_day = micros.rem_euclid(day_us) as i64;
    let (y, m, d) = civil_from_days(days);
    let secs = of_day / 1_000_000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        of_day % 1_000_000
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A JSON value as jsonb holds it: numbers as `numeric` text, objects in jsonb's key order.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// jsonb's text output (`JsonbToCString`).
    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => out.push_str(n),
            Json::Str(s) => escape_json(s, out),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Obj(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    escape_json(key, out);
                    out.push_str(": ");
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// PostgreSQL's `escape_json`: the two-character escapes for `\b \f \n \r \t " \`, `\u00xx`
/// (lower-case hex) for other control characters, everything else as it is.
fn escape_json(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Parses JSON text into jsonb's form (RFC 8259; `\u0000` refused, as jsonb refuses it).
fn parse(text: &str) -> Result<Json, DetailError> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    let value = parser.value()?;
    parser.space();
    if parser.at != parser.bytes.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

struct Parser<'t> {
    bytes: &'t [u8],
    at: usize,
    depth: usize,
}

/// Deeper nesting than this is refused (PostgreSQL stops at its stack depth limit too).
const MAX_DEPTH: usize = 1000;

impl Parser<'_> {
    fn error(&self, what: &str) -> DetailError {
        DetailError(format!("{what} at byte {}", self.at))
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, DetailError> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("unexpected token"))
        }
    }

    fn value(&mut self) -> Result<Json, DetailError> {
        self.space();
        match self.peek() {
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b'[') => self.nested(|p| p.array()),
            Some(b'{') => self.nested(|p| p.object()),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error("expected a value")),
        }
    }

    fn nested(
        &mut self,
        inner: impl FnOnce(&mut Self) -> Result<Json, DetailError>,
    ) -> Result<Json, DetailError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        let value = inner(self);
        self.depth -= 1;
        value
    }

    fn array(&mut self) -> Result<Json, DetailError> {
        self.at += 1;
        let mut items = Vec::new();
        self.space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            items.push(self.value()?);
            self.space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Arr(items));
                }
                _ => return Err(self.error("expected , or ]")),
            }
        }
    }

    fn object(&mut self) -> Result<Json, DetailError> {
        self.at += 1;
        let mut members: Vec<(String, Json)> = Vec::new();
        self.space();
        if self.peek() == Some(b'}') {
            self.at += 1;
        } else {
            loop {
                self.space();
                if self.peek() != Some(b'"') {
                    return Err(self.error("expected a key"));
                }
                let key = self.string()?;
                self.space();
                if self.peek() != Some(b':') {
                    return Err(self.error("expected :"));
                }
                self.at += 1;
                let value = self.value()?;
                members.push((key, value));
                self.space();
                match self.peek() {
                    Some(b',') => self.at += 1,
                    Some(b'}') => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(self.error("expected , or }")),
                }
            }
        }
        // jsonb keeps the last of repeated keys, and orders keys shorter first, then bytewise.
        // A stable sort keeps repeated keys in their order; the last of each run stays.
        members.sort_by(|(a, _), (b, _)| {
            a.len()
                .cmp(&b.len())
                .then_with(|| a.as_bytes().cmp(b.as_bytes()))
        });
        let mut unique: Vec<(String, Json)> = Vec::with_capacity(members.len());
        for (key, value) in members {
            match unique.last_mut() {
                Some((last, kept)) if *last == key => *kept = value,
                _ => unique.push((key, value)),
            }
        }
        Ok(Json::Obj(unique))
    }

    fn hex4(&mut self) -> Result<u32, DetailError> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.error("bad \\u escape"))?;
        self.at += 4;
        Ok(digits)
    }

    fn string(&mut self) -> Result<String, DetailError> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let start = self.at;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            let run = std::str::from_utf8(&self.bytes[start..self.at])
                .map_err(|_| self.error("invalid UTF-8"))?;
            out.push_str(run);
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escape = self.peek().ok_or_else(|| self.error("unfinished escape"))?;
                    self.at += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut code = self.hex4()?;
                            if (0xD800..0xDC00).contains(&code) {
                                if !self.bytes[self.at..].starts_with(b"\\u") {
                                    return Err(self.error("lone surrogate"));
                                }
                                self.at += 2;
                                let low = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return Err(self.error("lone surrogate"));
                                }
                                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                            }
                            if code == 0 {
                                return Err(self.error("\\u0000 cannot be stored in jsonb"));
                            }
                            out.push(
                                char::from_u32(code).ok_or_else(|| self.error("lone surrogate"))?,
                            );
                        }
                        _ => return Err(self.error("bad escape")),
                    }
                }
                _ => return Err(self.error("unfinished string")),
            }
        }
    }

    /// A JSON number, written as PostgreSQL's `numeric` writes it back: no exponent, the
    /// scale `numeric_in` gives it (fraction digits minus the exponent, at least 0), no
    /// leading zeros, and zero without a sign.
    fn number(&mut self) -> Result<Json, DetailError> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let digits_of = |p: &mut Self| {
            let start = p.at;
            while let Some(b'0'..=b'9') = p.peek() {
                p.at += 1;
            }
            std::str::from_utf8(&p.bytes[start..p.at])
                .unwrap_or_default()
                .to_owned()
        };
        let int = digits_of(self);
        if int.is_empty() || (int.len() > 1 && int.starts_with('0')) {
            return Err(self.error("bad number"));
        }
        let mut frac = String::new();
        if self.peek() == Some(b'.') {
            self.at += 1;
            frac = digits_of(self);
            if frac.is_empty() {
                return Err(self.error("bad number"));
            }
        }
        let mut exp: i64 = 0;
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            let sign = match self.peek() {
                Some(b'-') => {
                    self.at += 1;
                    -1
                }
                Some(b'+') => {
                    self.at += 1;
                    1
                }
                _ => 1,
            };
            let e = digits_of(self);
            if e.is_empty() {
                return Err(self.error("bad number"));
            }
            exp = sign
                * e.parse::<i64>()
                    .map_err(|_| self.error("exponent too large"))?;
        }
        if exp.abs() > 100_000 {
            return Err(self.error("exponent too large"));
        }
        let digits = format!("{int}{frac}");
        let scale = (frac.len() as i64 - exp).max(0) as usize;
        // Digits before the decimal point.
        let point = int.len() as i64 + exp;
        let (whole, fraction) = if point <= 0 {
            (
                String::new(),
                format!("{}{digits}", "0".repeat((-point) as usize)),
            )
        } else if point as usize >= digits.len() {
            (
                format!("{digits}{}", "0".repeat(point as usize - digits.len())),
                String::new(),
            )
        } else {
            let (w, f) = digits.split_at(point as usize);
            (w.to_owned(), f.to_owned())
        };
        let whole = whole.trim_start_matches('0');
        let whole = if whole.is_empty() { "0" } else { whole };
        // `fraction` has exactly `scale` digits whenever scale > 0, and none otherwise.
        let mut text = whole.to_owned();
        if scale > 0 {
            text.push('.');
            text.push_str(&fraction);
        }
        let zero = text.bytes().all(|b| b == b'0' || b == b'.');
        if negative && !zero {
            text.insert(0, '-');
        }
        Ok(Json::Num(text))
    }
}

/// Where anchors live in their bucket: `anchors/{chain_key}/{seq, 20 digits}.json`.
pub const ANCHOR_PREFIX: &str = "anchors/";

/// The object key of the anchor of `chain_key`'s head at `seq` (zero-padded, so keys sort by
/// sequence number). Chain keys are clinic ids: no PHI.
pub fn anchor_key(chain_key: Uuid, seq: i64) -> String {
    format!("{ANCHOR_PREFIX}{chain_key}/{seq:020}.json")
}

/// An anchor object's body: a chain's head when it was anchored, and when (RFC 3339, UTC).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnchorRecord {
    pub chain_key: Uuid,
    pub seq: i64,
    /// The event's hash, lower-case hex.
    pub hash: String,
    pub anchored_at: String,
}

impl AnchorRecord {
    /// The anchor as a checkpoint, if it is one: a sequence number from 1, a 32-byte hash,
    /// stored under its own key.
    pub fn checkpoint(&self, key: &str) -> Result<Checkpoint, String> {
        if key != anchor_key(self.chain_key, self.seq) {
            return Err(format!("{key} holds the anchor of another key"));
        }
        let hash = hex::decode(&self.hash).map_err(|e| format!("{key}: hash: {e}"))?;
        if self.seq < 1 || hash.len() != 32 {
            return Err(format!("{key}: not a chain head"));
        }
        Ok(Checkpoint {
            seq: self.seq,
            hash,
            source: Source::Anchor,
        })
    }
}

/// Where a checkpoint comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `audit.chain_heads`: the database's own record of the chain's end (the owner can move it).
    Head,
    /// An anchor the `audit-anchor` function wrote outside the database.
    Anchor,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Head => "the chain head",
            Source::Anchor => "an anchor",
        })
    }
}

/// A chain's sequence number and hash as recorded somewhere: the event at `seq` must carry
/// `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub source: Source,
}

/// Why a chain does not verify, at [`Broken::seq`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The event's hash is not the digest of its content and `prev_hash`.
    HashMismatch,
    /// The event's `prev_hash` is not the previous event's hash (or the chain's genesis).
    LinkMismatch,
    /// The event at this sequence number is missing: the next one read has `found`.
    Gap { found: i64 },
    /// The events end before a checkpoint: `seq` is the first missing one, up to
    /// `recorded_seq`.
    TailMissing { recorded_seq: i64, source: Source },
    /// The event at this sequence number is not the one the checkpoint recorded.
    CheckpointMismatch { source: Source },
    /// The event's detail cannot be read, so its digest cannot be computed.
    Unreadable(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::HashMismatch => f.write_str("hash mismatch: the event's content changed"),
            Reason::LinkMismatch => {
                f.write_str("link mismatch: prev_hash is not the previous event's hash")
            }
            Reason::Gap { found } => write!(f, "gap: the next event is {found}"),
            Reason::TailMissing {
                recorded_seq,
                source,
            } => write!(
                f,
                "tail missing: {source} records the chain up to {recorded_seq}"
            ),
            Reason::CheckpointMismatch { source } => match source {
                Source::Anchor => f.write_str(
                    "anchor mismatch: the chain was rewritten up to here since it was anchored",
                ),
                Source::Head => f.write_str("head mismatch: the chain head names another hash"),
            },
            Reason::Unreadable(why) => write!(f, "unreadable: {why}"),
        }
    }
}

/// The first sequence number of a chain that does not verify, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub seq: i64,
    pub reason: Reason,
}

/// What [`verify`] found for one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub chain_key: Uuid,
    pub events_checked: u64,
    /// Anchors ([`Source::Anchor`]) held against the events.
    pub anchors_checked: u64,
    /// The last sequence number read (0 for none).
    pub last_seq: i64,
    /// `None` when the chain verifies.
    pub broken: Option<Broken>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// Verifies a whole chain, from its first event: every event's hash, its link to the previous
/// one (the first to [`genesis`]), consecutive sequence numbers from 1, and every checkpoint
/// (the event at its `seq` carries its hash; none past the last event). `events` in
/// `chain_seq` order, all of `chain_key`'s chain; checkpoints in any order.
pub fn verify(chain_key: Uuid, events: &[Event], checkpoints: &[Checkpoint]) -> Verification {
    let mut verifier = ChainVerifier::new(chain_key, checkpoints.to_vec());
    for event in events {
        verifier.push(event);
    }
    verifier.finish()
}

/// Verifies a run of a chain that may start after its first event (an export of a range):
/// as [`verify`], but the first event's `prev_hash` is taken as given unless it is the chain's
/// first event or a checkpoint names the event before it; checkpoints before that are not
/// checked. Pass only checkpoints up to the range's end: one past the last event is a
/// missing tail.
pub fn verify_range(chain_key: Uuid, events: &[Event], checkpoints: &[Checkpoint]) -> Verification {
    let mut verifier = ChainVerifier::new(chain_key, checkpoints.to_vec());
    verifier.whole = false;
    for event in events {
        verifier.push(event);
    }
    verifier.finish()
}

/// [`verify`], one event at a time (a verifier reading a long chain as a stream).
pub struct ChainVerifier {
    chain_key: Uuid,
    checkpoints: Vec<Checkpoint>,
    /// The next checkpoint not yet held against an event.
    next_checkpoint: usize,
    whole: bool,
    started: bool,
    expected_seq: i64,
    prev_hash: Vec<u8>,
    events_checked: u64,
    anchors_checked: u64,
    broken: Option<Broken>,
}

impl ChainVerifier {
    pub fn new(chain_key: Uuid, mut checkpoints: Vec<Checkpoint>) -> ChainVerifier {
        checkpoints.sort_by_key(|c| c.seq);
        ChainVerifier {
            chain_key,
            checkpoints,
            next_checkpoint: 0,
            whole: true,
            started: false,
            expected_seq: 1,
            prev_hash: genesis(chain_key).to_vec(),
            events_checked: 0,
            anchors_checked: 0,
            broken: None,
        }
    }

    fn count(&mut self, checkpoint: usize) {
        if self.checkpoints[checkpoint].source == Source::Anchor {
            self.anchors_checked += 1;
        }
    }

    fn fail(&mut self, seq: i64, reason: Reason) {
        if self.broken.is_none() {
            self.broken = Some(Broken { seq, reason });
        }
    }

    /// The next event of the chain.
    pub fn push(&mut self, event: &Event) {
        self.events_checked += 1;
        if self.broken.is_some() {
            return;
        }
        if !self.started {
            self.started = true;
            if !self.whole && event.chain_seq > 1 {
                // A range: checkpoints before it cannot be checked, one just before it names
                // the link into it.
                self.expected_seq = event.chain_seq;
                self.prev_hash = event.prev_hash.clone();
                while let Some(c) = self.checkpoints.get(self.next_checkpoint) {
                    if c.seq >= event.chain_seq - 1 {
                        break;
                    }
                    self.next_checkpoint += 1;
                }
                while let Some(c) = self.checkpoints.get(self.next_checkpoint) {
                    if c.seq != event.chain_seq - 1 {
                        break;
                    }
                    let (matches, source) = (c.hash == event.prev_hash, c.source);
                    self.count(self.next_checkpoint);
                    self.next_checkpoint += 1;
                    if !matches {
                        return self.fail(event.chain_seq, Reason::CheckpointMismatch { source });
                    }
                }
            }
        }
        if event.chain_seq != self.expected_seq || event.chain_key() != self.chain_key {
            return self.fail(
                self.expected_seq,
                Reason::Gap {
                    found: event.chain_seq,
                },
            );
        }
        if event.prev_hash != self.prev_hash {
            return self.fail(event.chain_seq, Reason::LinkMismatch);
        }
        match digest(event) {
            Err(e) => return self.fail(event.chain_seq, Reason::Unreadable(e.to_string())),
            Ok(hash) if hash[..] != event.hash[..] => {
                return self.fail(event.chain_seq, Reason::HashMismatch)
            }
            Ok(_) => {}
        }
        // Checkpoints before this event were passed over by a gap already reported; those at it
        // must name its hash.
        while let Some(c) = self.checkpoints.get(self.next_checkpoint) {
            if c.seq > event.chain_seq {
                break;
            }
            let (matches, source) = (c.seq == event.chain_seq && c.hash == event.hash, c.source);
            self.count(self.next_checkpoint);
            self.next_checkpoint += 1;
            if !matches {
                return self.fail(event.chain_seq, Reason::CheckpointMismatch { source });
            }
        }
        self.prev_hash = event.hash.clone();
        self.expected_seq += 1;
    }

    /// The verification: checkpoints past the last event mean its tail is missing.
    pub fn finish(mut self) -> Verification {
        let last_seq = self.expected_seq - 1;
        if self.broken.is_none() {
            let rest = self.next_checkpoint;
            for i in rest..self.checkpoints.len() {
                self.count(i);
            }
            if let Some(c) = self.checkpoints[rest..].last() {
                let (recorded_seq, source) = (c.seq, c.source);
                self.fail(
                    last_seq + 1,
                    Reason::TailMissing {
                        recorded_seq,
                        source,
                    },
                );
            }
        }
        Verification {
            chain_key: self.chain_key,
            events_checked: self.events_checked,
            anchors_checked: self.anchors_checked,
            last_seq,
            broken: self.broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(json: &str) -> String {
        let mut out = String::new();
        parse(json).unwrap().write(&mut out);
        out
    }

    #[test]
    fn jsonb_text_output() {
        assert_eq!(
            text(r#"{"bb":1,"a":[1,2,{}],"c":null}"#),
            r#"{"a": [1, 2, {}], "c": null, "bb": 1}"#
        );
        assert_eq!(text(r#"{"a":1,"a":2}"#), r#"{"a": 2}"#);
        assert_eq!(text(r#""\u00e9\u0001\/\"""#), "\"é\\u0001/\\\"\"");
        for (n, out) in [
            ("1e3", "1000"),
            ("1.50", "1.50"),
            ("1.5e1", "15"),
            ("1.50e1", "15.0"),
            ("1e-2", "0.01"),
            ("100e-2", "1.00"),
            ("-0.0", "0.0"),
            ("-12.5E+0", "-12.5"),
            ("0.000", "0.000"),
        ] {
            assert_eq!(text(n), out, "{n}");
        }
    }

    #[test]
    fn the_time_as_to_char_writes_it() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_804_000_000_123_456);
        assert_eq!(pg_time(t), "2027-03-02T15:06:40.123456");
        assert_eq!(
            pg_time(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000"
        );
    }
}
