//! The span of dates Wardline accepts from clients. Anything outside it is a typo or an attack
//! (years like 0 or 262143 overflow date arithmetic and PostgreSQL's types), so it is a 400
//! before any arithmetic happens.

use crate::error::Error;
use std::ops::RangeInclusive;

pub const YEARS: RangeInclusive<i32> = 1900..=2200;

/// A 400 naming `field` unless `year` is within [`YEARS`].
pub fn check_year(field: &str, year: i32) -> Result<(), Error> {
    if YEARS.contains(&year) {
        Ok(())
    } else {
        Err(Error::invalid_field(
            field,
            format!("Dates run from {} to {}.", YEARS.start(), YEARS.end()),
        ))
    }
}

/// Free text a client must give (a reason, a name, a note): trimmed, 1 to `max_chars`
/// characters, and passing [`check_text`]; a 400 naming `field` otherwise.
pub fn required_text<'a>(field: &str, raw: &'a str, max_chars: usize) -> Result<&'a str, Error> {
    check_text(field, raw)?;
    let text = raw.trim();
    if text.is_empty() || text.chars().count() > max_chars {
        return Err(Error::invalid_field(
            field,
            format!("Give 1 to {max_chars} characters."),
        ));
    }
    Ok(text)
}

/// Free text a client may leave out (notes, a reason, a comment): as [`required_text`] when
/// it is given.
pub fn optional_text<'a>(
    field: &str,
    raw: Option<&'a str>,
    max_chars: usize,
) -> Result<Option<&'a str>, Error> {
    raw.map(|text| required_text(field, text, max_chars))
        .transpose()
}

/// One line of text a client must give (a name, a licence number): as [`required_text`], without
/// line breaks or tabs; a 400 naming `field` otherwise.
pub fn one_line<'a>(field: &str, raw: &'a str, max_chars: usize) -> Result<&'a str, Error> {
    let text = required_text(field, raw, max_chars)?;
    if text.contains(['\n', '\r', '\t']) {
        return Err(Error::invalid_field(field, "Give one line."));
    }
    Ok(text)
}

/// Free text from a client (reasons, names): a 400 naming `field` on control characters other
/// than tab and newline, which PostgreSQL's jsonb refuses (NUL) or no person types.
pub fn check_text(field: &str, text: &str) -> Result<(), Error> {
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Error::invalid_field(field, "Contains control characters."));
    }
    Ok(())
}
