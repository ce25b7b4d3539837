//! Contacts import: streaming CSV and JSON readers, E.164 validation, the do-not-call list,
//! and the batched import into the store.
//!
//! Files are read a row at a time and written in batches, so a contact list larger than
//! memory imports in constant memory (a batch, the do-not-call list and the first rejected
//! lines). A bad row is reported by its line and the reason, and the rest are imported.
//!
//! * CSV: a header row naming a `number` column (required), optionally `name` and `timezone`
//!   (IANA, e.g. `Europe/Paris`); every other column becomes a dial-plan variable
//!   (`vars.COLUMN`, as text).
//! * JSON: an array of objects, or one object per line (JSON Lines), with the same keys;
//!   other keys keep their JSON type as variables.

use std::collections::HashSet;
use std::fmt;
use std::io::{self, BufRead, Read};
use std::path::Path;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::store::{NewContact, Store, StoreError};

// ----- numbers ----------------------------------------------------------------------------

/// Why a phone number is not E.164.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NumberError {
    /// Nothing was given.
    #[error("the number is empty")]
    Empty,
    /// It does not start with `+` and a country code.
    #[error("it does not start with + and a country code")]
    NoPlus,
    /// A character other than digits, spaces, dashes, dots and parentheses.
    #[error("it holds {0:?}, not a digit")]
    BadChar(char),
    /// A country code cannot start with 0.
    #[error("the country code starts with 0")]
    LeadingZero,
    /// Fewer than 8 digits.
    #[error("it has {0} digits, fewer than 8")]
    TooShort(usize),
    /// More than 15 digits.
    #[error("it has {0} digits, more than 15")]
    TooLong(usize),
}

/// The number in E.164 form (`+` then 8–15 digits), with the spaces, dashes, dots and
/// parentheses people write removed: `+1 (555) 010-0199` gives `+15550100199`.
pub fn normalize_e164(raw: &str) -> Result<String, NumberError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(NumberError::Empty);
    }
    let rest = raw.strip_prefix('+').ok_or(NumberError::NoPlus)?;
    let mut out = String::with_capacity(16);
    out.push('+');
    let mut digits = 0;
    for ch in rest.chars() {
        match ch {
            '0'..='9' => {
                if digits == 0 && ch == '0' {
                    return Err(NumberError::LeadingZero);
                }
                digits += 1;
                out.push(ch);
            }
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            other => return Err(NumberError::BadChar(other)),
        }
    }
    match digits {
        0..=7 => Err(NumberError::TooShort(digits)),
        8..=15 => Ok(out),
        n => Err(NumberError::TooLong(n)),
    }
}

/// The digits of an E.164 number as an integer (15 digits fit), for compact sets.
fn number_key(e164: &str) -> Option<u64> {
    e164.strip_prefix('+')?.parse().ok()
}

// ----- rows -------------------------------------------------------------------------------

/// Why a row was left out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RowError {
    /// The row has no number.
    #[error("no number")]
    MissingNumber,
    /// The number is not E.164.
    #[error("number {raw:?} is not E.164 (+ then 8 to 15 digits): {why}")]
    Number {
        /// The number as written (first 40 characters).
        raw: String,
        /// Why.
        why: NumberError,
    },
    /// The time zone is not an IANA name.
    #[error("time zone {0:?} is unknown; use an IANA name such as Europe/Paris")]
    TimeZone(String),
    /// The row could not be read (wrong number of fields, invalid text, bad JSON).
    #[error("{0}")]
    Malformed(String),
}

/// A row left out, with its line (1 is the first line of the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The line the row starts on.
    pub line: u64,
    /// Why.
    pub reason: RowError,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// One row read from a contacts file.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// A valid contact.
    Contact {
        /// The line it starts on.
        line: u64,
        /// The contact.
        contact: NewContact,
    },
    /// A row left out.
    Rejected(Rejection),
}

/// A problem that stops the import (a bad row does not).
#[derive(Debug, Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read the contacts: {0}")]
    Read(#[from] io::Error),
    /// The CSV header names no `number` column.
    #[error("the CSV header ({header}) has no `number` column; the first line must name the columns, e.g. number,name,timezone,appointment")]
    NoNumberColumn {
        /// The header as read (first 200 characters).
        header: String,
    },
    /// Two CSV columns have the same name.
    #[error("the CSV header names column `{0}` twice; give each column its own name")]
    DuplicateColumn(String),
    /// The CSV file could not be parsed past this point.
    #[error("line {line}: {message}; the rest of the file cannot be read")]
    Csv {
        /// Where.
        line: u64,
        /// What.
        message: String,
    },
    /// The JSON array is broken: the rest cannot be read.
    #[error("line {line}: {message}; fix the JSON (an array of objects, or one object per line)")]
    Json {
        /// Where.
        line: u64,
        /// What.
        message: String,
    },
    /// The store refused a batch.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The contacts file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// A JSON array of objects, or JSON Lines.
    Json,
}

impl Format {
    /// The format a file name says (`.csv`; `.json`, `.jsonl`, `.ndjson`).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "json" | "jsonl" | "ndjson" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Reads contacts from `input` a row at a time.
pub fn read_contacts<R: Read + 'static>(
    input: R,
    format: Format,
) -> Result<Box<dyn Iterator<Item = Result<Row, ImportError>>>, ImportError> {
    Ok(match format {
        Format::Csv => Box::new(CsvContacts::new(input)?),
        Format::Json => Box::new(JsonContacts::new(io::BufReader::new(input))),
    })
}

/// What a known column or key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Number,
    Name,
    Timezone,
    Var,
}

fn column_of(name: &str) -> Column {
    match name.trim().to_ascii_lowercase().as_str() {
        "number" => Column::Number,
        "name" => Column::Name,
        "timezone" | "time_zone" | "tz" => Column::Timezone,
        _ => Column::Var,
    }
}

/// Checks the parts of a row and builds the contact.
fn contact_from_parts(
    number: Option<&str>,
    name: Option<String>,
    timezone: Option<&str>,
    vars: Map<String, Value>,
) -> Result<NewContact, RowError> {
    let raw = number
        .filter(|n| !n.trim().is_empty())
        .ok_or(RowError::MissingNumber)?;
    let number = normalize_e164(raw).map_err(|why| RowError::Number {
        raw: raw.chars().take(40).collect(),
        why,
    })?;
    let timezone = match timezone.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => match t.parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz.name().to_string()),
            Err(_) => return Err(RowError::TimeZone(t.chars().take(60).collect())),
        },
        None => None,
    };
    Ok(NewContact {
        number,
        name: name.filter(|n| !n.trim().is_empty()),
        timezone,
        vars,
    })
}

// ----- CSV --------------------------------------------------------------------------------

/// A CSV contacts file, row by row.
pub struct CsvContacts<R> {
    reader: csv::Reader<R>,
    columns: Vec<(Column, String)>,
    record: csv::ByteRecord,
    done: bool,
}

impl<R: Read> CsvContacts<R> {
    /// Reads the header row.
    pub fn new(input: R) -> Result<Self, ImportError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(input);
        let header = reader.byte_headers().map_err(csv_fatal)?.clone();
        let mut columns = Vec::with_capacity(header.len());
        let mut seen = HashSet::new();
        for (i, field) in header.iter().enumerate() {
            let mut name = String::from_utf8_lossy(field).trim().to_string();
            if i == 0 {
                name = name.trim_start_matches('\u{feff}').to_string();
            }
            let kind = column_of(&name);
            let key = match kind {
                Column::Var => name.clone(),
                _ => format!("{kind:?}"),
            };
            if !name.is_empty() && !seen.insert(key) {
                return Err(ImportError::DuplicateColumn(name));
            }
            columns.push((kind, name));
        }
        if !columns.iter().any(|(k, _)| *k == Column::Number) {
            let names: Vec<&str> = columns.iter().map(|(_, n)| n.as_str()).collect();
            let header = match names.join(",") {
                h if h.is_empty() => "empty".to_string(),
                h => h.chars().take(200).collect(),
            };
            return Err(ImportError::NoNumberColumn { header });
        }
        Ok(CsvContacts {
            reader,
            columns,
            record: csv::ByteRecord::new(),
            done: false,
        })
    }

    fn row(&self, line: u64) -> Row {
        let mut number = None;
        let mut name = None;
        let mut timezone = None;
        let mut vars = Map::new();
        for ((kind, column), field) in self.columns.iter().zip(self.record.iter()) {
            let Ok(text) = std::str::from_utf8(field) else {
                return Row::Rejected(Rejection {
                    line,
                    reason: RowError::Malformed(format!(
                        "column `{column}` is not UTF-8 text; save the file as UTF-8"
                    )),
                });
            };
            match kind {
                Column::Number => number = Some(text),
                Column::Name => name = Some(text.to_string()),
                Column::Timezone => timezone = Some(text),
                Column::Var if column.is_empty() => {}
                Column::Var => {
                    vars.insert(column.clone(), Value::String(text.to_string()));
                }
            }
        }
        match contact_from_parts(number, name, timezone, vars) {
            Ok(contact) => Row::Contact { line, contact },
            Err(reason) => Row::Rejected(Rejection { line, reason }),
        }
    }
}

fn csv_fatal(e: csv::Error) -> ImportError {
    let line = e.position().map_or(0, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => ImportError::Read(io),
        other => ImportError::Csv {
            line,
            message: format!("{other:?}"),
        },
    }
}

impl<R: Read> Iterator for CsvContacts<R> {
    type Item = Result<Row, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => {
                let line = self.record.position().map_or(0, |p| p.line());
                Some(Ok(self.row(line)))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => Some(Ok(Row::Rejected(Rejection {
                        line,
                        reason: RowError::Malformed(format!(
                            "{len} fields where the header has {expected_len}"
                        )),
                    }))),
                    _ => {
                        self.done = true;
                        Some(Err(csv_fatal(e)))
                    }
                }
            }
        }
    }
}

// ----- JSON -------------------------------------------------------------------------------

/// Counts the lines of what passes through it.
struct Lines<R> {
    inner: R,
    newlines: u64,
}

impl<R: BufRead> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.newlines += buf.get(..n).map_or(0, count_newlines);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Lines<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            self.newlines += buf.get(..amt).map_or(0, count_newlines);
        }
        self.inner.consume(amt);
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonMode {
    Start,
    Array { first: bool },
    Lines,
    Done,
}

/// A JSON contacts file (an array of objects, or JSON Lines), object by object.
pub struct JsonContacts<R> {
    src: Lines<R>,
    mode: JsonMode,
    line: String,
}

impl<R: BufRead> JsonContacts<R> {
    /// A reader over `input`; the format is told by its first character.
    pub fn new(input: R) -> Self {
        JsonContacts {
            src: Lines {
                inner: input,
                newlines: 0,
            },
            mode: JsonMode::Start,
            line: String::new(),
        }
    }

    /// The next byte that is not white space, left unread.
    fn peek_non_space(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = self.src.fill_buf()?;
            let Some(&b) = buf.first() else {
                return Ok(None);
            };
            if b.is_ascii_whitespace() {
                self.src.consume(1);
            } else {
                return Ok(Some(b));
            }
        }
    }

    fn fatal(&mut self, message: impl Into<String>) -> Option<Result<Row, ImportError>> {
        self.mode = JsonMode::Done;
        Some(Err(ImportError::Json {
            line: self.src.newlines + 1,
            message: message.into(),
        }))
    }

    fn next_in_array(&mut self, first: bool) -> Option<Result<Row, ImportError>> {
        let b = match self.peek_non_space() {
            Ok(b) => b,
            Err(e) => return Some(Err(e.into())),
        };
        match (b, first) {
            (Some(b']'), _) => {
                self.src.consume(1);
                self.mode = JsonMode::Done;
                return match self.peek_non_space() {
                    Ok(None) => None,
                    Ok(Some(_)) => self.fatal("text after the closing ]"),
                    Err(e) => Some(Err(e.into())),
                };
            }
            (Some(b','), false) => {
                self.src.consume(1);
                if let Err(e) = self.peek_non_space() {
                    return Some(Err(e.into()));
                }
            }
            (None, _) => return self.fatal("the array is not closed with ]"),
            (Some(_), true) => {}
            (Some(_), false) => return self.fatal("expected , or ] between objects"),
        }
        self.mode = JsonMode::Array { first: false };
        let line = self.src.newlines + 1;
        match self.src.fill_buf().map(|b| b.first().copied()) {
            Ok(Some(b'{' | b'[' | b'"')) => {}
            Ok(_) => {
                // A number, true, false or null: JSON finds their end only by reading one
                // byte past it, which would lose the separator, so skip them by hand.
                if let Err(e) = self.skip_scalar() {
                    return Some(Err(e.into()));
                }
                return Some(Ok(Row::Rejected(Rejection {
                    line,
                    reason: RowError::Malformed("not a JSON object".into()),
                })));
            }
            Err(e) => return Some(Err(e.into())),
        }
        // Objects, arrays and strings end with their closing byte: nothing past it is read.
        let mut de = serde_json::Deserializer::from_reader(&mut self.src);
        match serde::Deserialize::deserialize(&mut de) {
            Ok(value) => Some(Ok(row_from_json(line, value))),
            Err(e) if e.is_io() => Some(Err(ImportError::Read(e.into()))),
            Err(e) => {
                let text = e.to_string();
                let what = text
                    .rsplit_once(" at line ")
                    .map_or(text.as_str(), |(w, _)| w);
                let at = line + (e.line() as u64).saturating_sub(1);
                self.mode = JsonMode::Done;
                Some(Err(ImportError::Json {
                    line,
                    message: format!(
                        "the object starting here is not valid JSON: {what} (line {at}, column {})",
                        e.column()
                    ),
                }))
            }
        }
    }

    /// Skips a bare scalar up to (not including) the next separator or white space.
    fn skip_scalar(&mut self) -> io::Result<()> {
        loop {
            let buf = self.src.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            let n = buf
                .iter()
                .position(|b| matches!(b, b',' | b']') || b.is_ascii_whitespace());
            match n {
                Some(n) => {
                    self.src.consume(n);
                    return Ok(());
                }
                None => {
                    let len = buf.len();
                    self.src.consume(len);
                }
            }
        }
    }

    fn next_line(&mut self) -> Option<Result<Row, ImportError>> {
        loop {
            self.line.clear();
            let line = self.src.newlines + 1;
            match self.src.read_line(&mut self.line) {
                Ok(0) => {
                    self.mode = JsonMode::Done;
                    return None;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    // Not UTF-8: skip the rest of the line and report it.
                    let mut skip = Vec::new();
                    if let Err(e) = self.src.read_until(b'\n', &mut skip) {
                        return Some(Err(e.into()));
                    }
                    return Some(Ok(Row::Rejected(Rejection {
                        line,
                        reason: RowError::Malformed("not UTF-8 text".into()),
                    })));
                }
                Err(e) => return Some(Err(e.into())),
            }
            let text = self.line.trim();
            if text.is_empty() {
                continue;
            }
            return Some(Ok(match serde_json::from_str::<Value>(text) {
                Ok(value) => row_from_json(line, value),
                Err(e) => Row::Rejected(Rejection {
                    line,
                    reason: RowError::Malformed(format!("invalid JSON: {e}")),
                }),
            }));
        }
    }
}

fn row_from_json(line: u64, value: Value) -> Row {
    let Value::Object(map) = value else {
        return Row::Rejected(Rejection {
            line,
            reason: RowError::Malformed("not a JSON object".into()),
        });
    };
    let mut number = None;
    let mut name = None;
    let mut timezone = None;
    let mut vars = Map::new();
    for (key, value) in map {
        let text = match &value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Null => None,
            _ => Some(value.to_string()),
        };
        match column_of(&key) {
            Column::Number => number = text,
            Column::Name => name = text,
            Column::Timezone => timezone = text,
            Column::Var => {
                vars.insert(key, value);
            }
        }
    }
    match contact_from_parts(number.as_deref(), name, timezone.as_deref(), vars) {
        Ok(contact) => Row::Contact { line, contact },
        Err(reason) => Row::Rejected(Rejection { line, reason }),
    }
}

impl<R: BufRead> Iterator for JsonContacts<R> {
    type Item = Result<Row, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.mode {
            JsonMode::Done => None,
            JsonMode::Lines => self.next_line(),
            JsonMode::Array { first } => self.next_in_array(first),
            JsonMode::Start => match self.peek_non_space() {
                Err(e) => Some(Err(e.into())),
                Ok(None) => {
                    self.mode = JsonMode::Done;
                    None
                }
                Ok(Some(b'[')) => {
                    self.src.consume(1);
                    self.mode = JsonMode::Array { first: true };
                    self.next_in_array(true)
                }
                Ok(Some(_)) => {
                    self.mode = JsonMode::Lines;
                    self.next_line()
                }
            },
        }
    }
}

// ----- do-not-call ------------------------------------------------------------------------

/// Numbers never to call, held as integers (8 bytes a number).
#[derive(Debug, Clone, Default)]
pub struct DncList {
    numbers: HashSet<u64>,
}

impl DncList {
    /// Reads a list: one number per line (spaces and dashes allowed); blank lines and lines
    /// starting with `#` are ignored. Lines that are not E.164 are returned, not fatal.
    pub fn read<R: BufRead>(input: R) -> io::Result<(DncList, Vec<Rejection>)> {
        let mut list = DncList::default();
        let mut bad = Vec::new();
        for (i, line) in input.lines().enumerate() {
            let line = line?;
            let text = line.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            match normalize_e164(text).ok().and_then(|n| number_key(&n)) {
                Some(key) => {
                    list.numbers.insert(key);
                }
                None => bad.push(Rejection {
                    line: i as u64 + 1,
                    reason: match normalize_e164(text) {
                        Err(why) => RowError::Number {
                            raw: text.chars().take(40).collect(),
                            why,
                        },
                        Ok(_) => RowError::MissingNumber,
                    },
                }),
            }
        }
        Ok((list, bad))
    }

    /// Adds a number (any form [`normalize_e164`] accepts); false if it is not E.164.
    pub fn insert(&mut self, number: &str) -> bool {
        match normalize_e164(number).ok().and_then(|n| number_key(&n)) {
            Some(key) => {
                self.numbers.insert(key);
                true
            }
            None => false,
        }
    }

    /// Whether an E.164 number is on the list.
    pub fn contains(&self, e164: &str) -> bool {
        number_key(e164).is_some_and(|k| self.numbers.contains(&k))
    }

    /// How many numbers it holds.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }
}

// ----- import -----------------------------------------------------------------------------

/// How to import.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Contacts written per transaction (and at most held in memory).
    pub batch_size: usize,
    /// Rejected lines kept for the report; the rest are only counted.
    pub max_reported: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            batch_size: 1000,
            max_reported: 1000,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Data rows read (header excluded).
    pub rows: u64,
    /// Contacts added to the campaign.
    pub imported: u64,
    /// Rows left out as malformed.
    pub rejected: u64,
    /// The first rejected rows, by line (at most `max_reported`).
    pub rejections: Vec<Rejection>,
    /// Rows left out because the number is on the do-not-call list.
    pub skipped_dnc: u64,
    /// Rows left out because the number is already in the campaign.
    pub skipped_duplicate: u64,
    /// Batches written.
    pub batches: u64,
    /// The largest batch held in memory.
    pub largest_batch: usize,
}

/// Imports rows into campaign `campaign_id`, in batches of `options.batch_size`, leaving out
/// rejected rows, numbers on `dnc` and numbers already in the campaign.
///
/// Reading is synchronous between batches: give a file or a buffered reader, not a socket.
pub async fn import(
    store: &Store,
    campaign_id: i64,
    rows: impl Iterator<Item = Result<Row, ImportError>>,
    dnc: Option<&DncList>,
    options: ImportOptions,
    at_unix_ms: i64,
) -> Result<ImportReport, ImportError> {
    let batch_size = options.batch_size.max(1);
    let mut report = ImportReport::default();
    let mut batch: Vec<NewContact> = Vec::with_capacity(batch_size);
    for row in rows {
        match row? {
            Row::Rejected(rejection) => {
                report.rows += 1;
                report.rejected += 1;
                if report.rejections.len() < options.max_reported {
                    report.rejections.push(rejection);
                }
            }
            Row::Contact { contact, .. } => {
                report.rows += 1;
                if dnc.is_some_and(|d| d.contains(&contact.number)) {
                    report.skipped_dnc += 1;
                    continue;
                }
                batch.push(contact);
                if batch.len() >= batch_size {
                    flush(store, campaign_id, &mut batch, &mut report, at_unix_ms).await?;
                }
            }
        }
    }
    flush(store, campaign_id, &mut batch, &mut report, at_unix_ms).await?;
    Ok(report)
}

async fn flush(
    store: &Store,
    campaign_id: i64,
    batch: &mut Vec<NewContact>,
    report: &mut ImportReport,
    at_unix_ms: i64,
) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    report.largest_batch = report.largest_batch.max(batch.len());
    let added = store
        .insert_contacts(campaign_id, batch, at_unix_ms)
        .await?;
    report.batches += 1;
    report.imported += added;
    report.skipped_duplicate += batch.len() as u64 - added.min(batch.len() as u64);
    batch.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &'static str, format: Format) -> Vec<Row> {
        read_contacts(text.as_bytes(), format)
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn rejected_lines(rows: &[Row]) -> Vec<(u64, String)> {
        rows.iter()
            .filter_map(|r| match r {
                Row::Rejected(rej) => Some((rej.line, rej.reason.to_string())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn e164_numbers_are_normalised_and_bad_ones_say_why() {
        assert_eq!(
            normalize_e164(" +1 (555) 010-0199 ").unwrap(),
            "+15550100199"
        );
        assert_eq!(normalize_e164("+33.1.23.45.67.89").unwrap(), "+33123456789");
        assert_eq!(normalize_e164("5550100199"), Err(NumberError::NoPlus));
        assert_eq!(normalize_e164("+1555"), Err(NumberError::TooShort(4)));
        assert_eq!(
            normalize_e164("+1234567890123456"),
            Err(NumberError::TooLong(16))
        );
        assert_eq!(normalize_e164("+0123456789"), Err(NumberError::LeadingZero));
        assert_eq!(
            normalize_e164("+1555abc0199"),
            Err(NumberError::BadChar('a'))
        );
        assert_eq!(normalize_e164("  "), Err(NumberError::Empty));
        assert!(normalize_e164("+12345678").is_ok());
        assert!(normalize_e164("+123456789012345").is_ok());
    }

    #[test]
    fn csv_rows_become_contacts_with_extra_columns_as_variables() {
        let rows = rows(
            "\u{feff}Number,name,timezone,appointment,clinic\n\
             +1 555 010 0199,Ann,America/New_York,2024-05-01 10:00,North\n\
             +447700900123,,,2024-05-02 11:30,\"South, Annex\"\n",
            Format::Csv,
        );
        assert_eq!(rows.len(), 2);
        let Row::Contact { line, contact } = &rows[0] else {
            panic!("{rows:?}")
        };
        assert_eq!(*line, 2);
        assert_eq!(contact.number, "+15550100199");
        assert_eq!(contact.name.as_deref(), Some("Ann"));
        assert_eq!(contact.timezone.as_deref(), Some("America/New_York"));
        assert_eq!(contact.vars["appointment"], "2024-05-01 10:00");
        let Row::Contact { contact, .. } = &rows[1] else {
            panic!()
        };
        assert_eq!(contact.name, None);
        assert_eq!(contact.timezone, None);
        assert_eq!(contact.vars["clinic"], "South, Annex");
    }

    #[test]
    fn malformed_csv_lines_are_reported_by_line_and_the_others_read() {
        let rows = rows(
            "number,name,timezone\n\
             +15550100001,Ann,Europe/Paris\n\
             +15550100002,Bob\n\
             5550100003,Cid,\n\
             +15550100004,Dee,Mars/Olympus\n\
             ,Eve,\n\
             \"+15550100006\nsplit\",Fay,\n\
             +15550100007,Gus,UTC\n",
            Format::Csv,
        );
        let bad = rejected_lines(&rows);
        let lines: Vec<u64> = bad.iter().map(|b| b.0).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7], "{bad:?}");
        assert!(
            bad[0].1.contains("2 fields where the header has 3"),
            "{}",
            bad[0].1
        );
        assert!(bad[1].1.contains("not E.164"), "{}", bad[1].1);
        assert!(bad[2].1.contains("Mars/Olympus"), "{}", bad[2].1);
        assert_eq!(bad[3].1, "no number");
        let good: Vec<u64> = rows
            .iter()
            .filter_map(|r| match r {
                Row::Contact { line, .. } => Some(*line),
                _ => None,
            })
            .collect();
        assert_eq!(good, vec![2, 9]);
    }

    #[test]
    fn a_csv_without_a_number_column_is_refused_with_its_header() {
        let err = read_contacts(&b"phone,name\n+15550100001,Ann\n"[..], Format::Csv)
            .err()
            .unwrap();
        assert!(err.to_string().contains("phone,name"), "{err}");
        let err = read_contacts(&b"number,Number\n"[..], Format::Csv)
            .err()
            .unwrap();
        assert!(matches!(err, ImportError::DuplicateColumn(_)), "{err}");
    }

    #[test]
    fn a_json_array_streams_objects_and_reports_bad_ones_by_line() {
        let rows = rows(
            "[\n  {\"number\": \"+15550100001\", \"name\": \"Ann\", \"visits\": 3},\n  \
             {\"number\": \"555\"},\n  42,\n  {\"number\": \"+15550100004\", \"timezone\": \"Asia/Shanghai\"}\n]\n",
            Format::Json,
        );
        assert_eq!(rows.len(), 4);
        let Row::Contact { line, contact } = &rows[0] else {
            panic!()
        };
        assert_eq!((*line, contact.vars["visits"].as_i64()), (2, Some(3)));
        assert_eq!(
            rejected_lines(&rows)
                .iter()
                .map(|r| r.0)
                .collect::<Vec<_>>(),
            vec![3, 4]
        );
        let Row::Contact { line, contact } = &rows[3] else {
            panic!()
        };
        assert_eq!(
            (*line, contact.timezone.as_deref()),
            (5, Some("Asia/Shanghai"))
        );
    }

    #[test]
    fn a_broken_json_array_stops_with_the_line() {
        let mut it = read_contacts(
            &b"[{\"number\": \"+15550100001\"},\n{\"number\": \"+1555\n"[..],
            Format::Json,
        )
        .unwrap();
        assert!(matches!(it.next(), Some(Ok(Row::Contact { .. }))));
        let err = it.next().unwrap().unwrap_err();
        assert!(matches!(err, ImportError::Json { line: 2, .. }), "{err}");
        assert!(it.next().is_none());
    }

    #[test]
    fn json_lines_skip_a_bad_line_and_go_on() {
        let rows = rows(
            "{\"number\": \"+15550100001\"}\n{not json}\n\n{\"number\": \"+15550100003\", \"tz\": \"UTC\"}\n",
            Format::Json,
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(rejected_lines(&rows)[0].0, 2);
        assert!(matches!(&rows[2], Row::Contact { line: 4, .. }));
    }

    #[test]
    fn the_do_not_call_list_reads_numbers_in_any_written_form() {
        let (dnc, bad) =
            DncList::read(&b"# opted out\n+1 555 010 0001\n\n+1-555-010-0002\nnot a number\n"[..])
                .unwrap();
        assert_eq!(dnc.len(), 2);
        assert!(dnc.contains("+15550100001"));
        assert!(dnc.contains("+15550100002"));
        assert!(!dnc.contains("+15550100003"));
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 5);
    }

    proptest::proptest! {
        #[test]
        fn hostile_bytes_never_panic_the_readers(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            for format in [Format::Csv, Format::Json] {
                if let Ok(rows) = read_contacts(io::Cursor::new(bytes.clone()), format) {
                    // Every row ends in a contact, a rejection or a fatal error; never a panic,
                    // and never more rows than the input could hold (no endless loop).
                    proptest::prop_assert!(rows.count() <= bytes.len() + 1);
                }
            }
            let _ = DncList::read(&bytes[..]);
        }

        #[test]
        fn json_like_input_never_panics(text in "[\\[\\]{}\",:0-9a-z+ \n]{0,200}") {
            let len = text.len();
            if let Ok(rows) = read_contacts(io::Cursor::new(text.into_bytes()), Format::Json) {
                proptest::prop_assert!(rows.count() <= len + 1);
            }
        }
    }

    #[test]
    fn formats_are_told_by_the_file_name() {
        assert_eq!(
            Format::from_path(Path::new("a/list.CSV")),
            Some(Format::Csv)
        );
        assert_eq!(Format::from_path(Path::new("x.jsonl")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("x.txt")), None);
    }
}
