//! Keyset pagination as list routes take it: `limit` (1 to [`MAX_LIMIT`], default
//! [`DEFAULT_LIMIT`]), `cursor` (the `nextCursor` of the previous page: the id of its last row,
//! so no names end up in URLs or access logs) and an optional name `search`.

use crate::{dates::check_text, error::Error, http::Incoming};
use serde_json::{json, Value};
use uuid::Uuid;

pub const MAX_LIMIT: u32 = 200;
pub const DEFAULT_LIMIT: u32 = 50;
/// The longest search text, in characters.
pub const MAX_SEARCH: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub after: Option<Uuid>,
    pub search: Option<String>,
}

impl Page {
    /// The page a request asks for; any other query parameter is a 400 naming it.
    pub fn from_query(req: &Incoming) -> Result<Page, Error> {
        let mut page = Page {
            limit: DEFAULT_LIMIT,
            after: None,
            search: None,
        };
        for (name, value) in req.query_params(&["limit", "cursor", "search"])? {
            match name {
                "limit" => page.limit = limit(value)?,
                "cursor" => page.after = Some(cursor(value)?),
                _ => {
                    check_text("search", value)?;
                    let text = value.trim();
                    if text.chars().count() > MAX_SEARCH {
                        return Err(Error::invalid_field(
                            "search",
                            format!("At most {MAX_SEARCH} characters."),
                        ));
                    }
                    page.search = (!text.is_empty()).then(|| text.to_owned());
                }
            }
        }
        req.expect_no_body()?;
        Ok(page)
    }

    /// The page as the `api.*` functions take it: `{limit, after, search}`.
    pub fn input(&self) -> Value {
        json!({ "limit": self.limit, "after": self.after, "search": self.search })
    }
}

/// A list route's page as the SQL pages take it (`{limit, after}`), and the route's own query
/// parameters, as sent.
pub type Keyset<'r> = (serde_json::Map<String, Value>, Vec<(&'r str, &'r str)>);

/// The `limit` and `cursor` of a list route without search, and the route's own `extra`
/// parameters for it to read.
pub fn keyset<'r>(req: &'r Incoming, extra: &[&str]) -> Result<Keyset<'r>, Error> {
    let mut allowed = vec!["limit", "cursor"];
    allowed.extend_from_slice(extra);
    let mut input = serde_json::Map::new();
    input.insert("limit".into(), json!(DEFAULT_LIMIT));
    input.insert("after".into(), Value::Null);
    let mut rest = Vec::new();
    for (name, value) in req.query_params(&allowed)? {
        match name {
            "limit" => input.insert("limit".into(), json!(limit(value)?)),
            "cursor" => input.insert("after".into(), json!(cursor(value)?)),
            _ => {
                rest.push((name, value));
                None
            }
        };
    }
    Ok((input, rest))
}

/// A `cursor` query parameter: the `nextCursor` (an id) of the previous page.
pub fn cursor(value: &str) -> Result<Uuid, Error> {
    value
        .parse()
        .map_err(|_| Error::invalid_field("cursor", "Pass back the nextCursor of a page."))
}

/// A `cursor` query parameter of a page in chain order (the audit trail): the `nextCursor` of
/// the previous page, a positive sequence number.
pub fn sequence_cursor(value: &str) -> Result<i64, Error> {
    value
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::invalid_field("cursor", "Pass back the nextCursor of a page."))
}

/// A `limit` query parameter: 1 to [`MAX_LIMIT`].
pub fn limit(value: &str) -> Result<u32, Error> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            Error::invalid_field("limit", format!("A whole number from 1 to {MAX_LIMIT}."))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, Method};

    fn page(query: &[(&str, &str)]) -> Result<Page, Error> {
        Page::from_query(&Incoming {
            method: Method::GET,
            headers: HeaderMap::new(),
            query: query
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            params: Vec::new(),
            body: Bytes::new(),
            request_id: "r".into(),
            source_ip: None,
        })
    }

    fn field(query: &[(&str, &str)]) -> String {
        page(query).unwrap_err().into_problem().errors[0]
            .field
            .clone()
    }

    #[test]
    fn defaults_bounds_and_named_errors() {
        assert_eq!(
            page(&[]).unwrap(),
            Page {
                limit: DEFAULT_LIMIT,
                after: None,
                search: None
            }
        );
        let id = Uuid::new_v4().to_string();
        let p = page(&[("limit", "200"), ("cursor", &id), ("search", "  ann ")]).unwrap();
        assert_eq!((p.limit, p.search.as_deref()), (200, Some("ann")));
        assert_eq!(page(&[("search", "  ")]).unwrap().search, None);
        assert_eq!(field(&[("limit", "0")]), "limit");
        assert_eq!(field(&[("limit", "201")]), "limit");
        assert_eq!(field(&[("limit", "ten")]), "limit");
        assert_eq!(field(&[("cursor", "Smith")]), "cursor");
        assert_eq!(field(&[("search", &"x".repeat(101))]), "search");
        assert_eq!(field(&[("search", "a\u{0}b")]), "search");
        assert_eq!(field(&[("sort", "name")]), "sort");
    }
}
