//! `$filter`: the expressions Graph supports on directory objects, parsed and evaluated.

use super::*;

/// A `$filter` expression: the forms Graph supports on directory objects.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    /// `prop op literal`.
    Compare(String, Op, Value),
    /// `startswith(prop,'x')`.
    StartsWith(String, String),
    /// `endswith(prop,'x')` (advanced query).
    EndsWith(String, String),
    /// `prop in ('a','b')`.
    In(String, Vec<Value>),
    /// `collection/any(x:x eq 'v')`.
    Any(String, Op, Value),
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not a` (advanced query).
    Not(Box<Filter>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `ge`
    Ge,
    /// `gt`
    Gt,
    /// `le`
    Le,
    /// `lt`
    Lt,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
    Comma,
    Colon,
}

pub(super) fn tokenize(s: &str) -> GraphResult<Vec<Tok>> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            ':' => {
                out.push(Tok::Colon);
                i += 1;
            }
            '\'' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(filter_error(s, "unterminated string")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            value.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            value.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(value));
            }
            _ => {
                let start = i;
                let numeric = c.is_ascii_digit() || c == '-';
                while i < chars.len() {
                    let ch = chars[i];
                    let ok = ch.is_alphanumeric()
                        || matches!(ch, '_' | '.' | '/' | '@' | '-')
                        || (numeric && matches!(ch, ':' | '+'));
                    if !ok {
                        break;
                    }
                    i += 1;
                }
                if start == i {
                    return Err(filter_error(s, &format!("unexpected character '{c}'")));
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

pub(super) fn filter_error(filter: &str, why: &str) -> GraphError {
    GraphError::bad_request(format!("Invalid filter clause: {why} in '{filter}'."))
}

pub(super) struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<String> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, tok: &Tok) -> GraphResult<()> {
        match self.next() {
            Some(t) if &t == tok => Ok(()),
            _ => Err(filter_error(self.src, &format!("expected {tok:?}"))),
        }
    }

    fn word(&mut self) -> GraphResult<String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w),
            _ => Err(filter_error(self.src, "expected a property name")),
        }
    }

    fn or(&mut self) -> GraphResult<Filter> {
        let mut left = self.and()?;
        while self.peek_word().as_deref() == Some("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> GraphResult<Filter> {
        let mut left = self.unary()?;
        while self.peek_word().as_deref() == Some("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> GraphResult<Filter> {
        if self.peek_word().as_deref() == Some("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.toks.get(self.pos) == Some(&Tok::Open) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(&Tok::Close)?;
            return Ok(inner);
        }
        let word = self.word()?;
        let lower = word.to_ascii_lowercase();
        if (lower == "startswith" || lower == "endswith")
            && self.toks.get(self.pos) == Some(&Tok::Open)
        {
            self.pos += 1;
            let prop = self.word()?;
            self.expect(&Tok::Comma)?;
            let Some(Tok::Str(value)) = self.next() else {
                return Err(filter_error(self.src, "expected a string"));
            };
            self.expect(&Tok::Close)?;
            return Ok(if lower == "startswith" {
                Filter::StartsWith(prop, value)
            } else {
                Filter::EndsWith(prop, value)
            });
        }
        if let Some(collection) = word.strip_suffix("/any") {
            self.expect(&Tok::Open)?;
            let var = self.word()?;
            self.expect(&Tok::Colon)?;
            let v2 = self.word()?;
            if v2 != var {
                return Err(filter_error(self.src, "lambda variable mismatch"));
            }
            let op = self.op()?;
            let value = self.literal()?;
            self.expect(&Tok::Close)?;
            return Ok(Filter::Any(collection.to_owned(), op, value));
        }
        if self.peek_word().as_deref() == Some("in") {
            self.pos += 1;
            self.expect(&Tok::Open)?;
            let mut values = vec![self.literal()?];
            while self.toks.get(self.pos) == Some(&Tok::Comma) {
                self.pos += 1;
                values.push(self.literal()?);
            }
            self.expect(&Tok::Close)?;
            return Ok(Filter::In(word, values));
        }
        let op = self.op()?;
        let value = self.literal()?;
        Ok(Filter::Compare(word, op, value))
    }

    fn op(&mut self) -> GraphResult<Op> {
        let w = self.word()?.to_ascii_lowercase();
        Ok(match w.as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "ge" => Op::Ge,
            "gt" => Op::Gt,
            "le" => Op::Le,
            "lt" => Op::Lt,
            _ => {
                return Err(filter_error(
                    self.src,
                    &format!("unsupported operator '{w}'"),
                ));
            }
        })
    }

    fn literal(&mut self) -> GraphResult<Value> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::String(s)),
            Some(Tok::Word(w)) => Ok(match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => w
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or(Value::String(w)),
            }),
            _ => Err(filter_error(self.src, "expected a value")),
        }
    }
}

impl Filter {
    /// Parses a `$filter` value.
    ///
    /// # Errors
    /// 400 `Request_BadRequest` naming what could not be parsed.
    pub(crate) fn parse(s: &str) -> GraphResult<Self> {
        let mut p = Parser {
            toks: tokenize(s)?,
            pos: 0,
            src: s,
        };
        let f = p.or()?;
        if p.pos != p.toks.len() {
            return Err(filter_error(s, "unexpected trailing input"));
        }
        Ok(f)
    }

    /// Whether it needs advanced query capabilities (`ne`, `not`, `endsWith`).
    pub(crate) fn is_advanced(&self) -> bool {
        match self {
            Filter::Compare(_, Op::Ne, _) | Filter::EndsWith(..) | Filter::Not(_) => true,
            Filter::And(a, b) | Filter::Or(a, b) => a.is_advanced() || b.is_advanced(),
            _ => false,
        }
    }

    /// The properties the expression reads.
    pub(crate) fn properties(&self) -> Vec<&str> {
        match self {
            Filter::Compare(p, ..)
            | Filter::StartsWith(p, _)
            | Filter::EndsWith(p, _)
            | Filter::In(p, _)
            | Filter::Any(p, ..) => vec![p.as_str()],
            Filter::And(a, b) | Filter::Or(a, b) => {
                let mut out = a.properties();
                out.extend(b.properties());
                out
            }
            Filter::Not(a) => a.properties(),
        }
    }

    /// Whether `obj` matches.
    pub(crate) fn matches(&self, obj: &Obj) -> bool {
        match self {
            Filter::Compare(prop, op, value) => compare(lookup(obj, prop), *op, value),
            Filter::StartsWith(prop, prefix) => lookup(obj, prop)
                .and_then(Value::as_str)
                .is_some_and(|s| s.to_lowercase().starts_with(&prefix.to_lowercase())),
            Filter::EndsWith(prop, suffix) => lookup(obj, prop)
                .and_then(Value::as_str)
                .is_some_and(|s| s.to_lowercase().ends_with(&suffix.to_lowercase())),
            Filter::In(prop, values) => {
                let v = lookup(obj, prop);
                values.iter().any(|x| compare(v, Op::Eq, x))
            }
            Filter::Any(prop, op, value) => lookup(obj, prop)
                .and_then(Value::as_array)
                .is_some_and(|items| items.iter().any(|i| compare(Some(i), *op, value))),
            Filter::And(a, b) => a.matches(obj) && b.matches(obj),
            Filter::Or(a, b) => a.matches(obj) || b.matches(obj),
            Filter::Not(a) => !a.matches(obj),
        }
    }

    /// `(property, value)` of a filter that is one `property eq 'value'`.
    pub(crate) fn equals(&self) -> Option<(&str, &str)> {
        match self {
            Filter::Compare(p, Op::Eq, Value::String(v)) => Some((p, v)),
            _ => None,
        }
    }

    /// The id an `id eq '…'` filter asks for: delta accepts only that form for users and
    /// groups (docs/graph.md §3).
    pub(crate) fn only_ids(&self) -> Option<Vec<String>> {
        match self {
            Filter::Compare(p, Op::Eq, Value::String(v)) if p == "id" => Some(vec![v.clone()]),
            Filter::Or(a, b) => {
                let mut ids = a.only_ids()?;
                ids.extend(b.only_ids()?);
                Some(ids)
            }
            _ => None,
        }
    }
}

pub(super) fn lookup<'a>(obj: &'a Obj, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('/');
    let first = parts.next()?;
    let mut v = obj.get(first).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(first))
            .map(|(_, v)| v)
    })?;
    for part in parts {
        v = v.get(part)?;
    }
    Some(v)
}

pub(super) fn compare(actual: Option<&Value>, op: Op, expected: &Value) -> bool {
    let actual = actual.unwrap_or(&Value::Null);
    let ordering = match (actual, expected) {
        (Value::String(a), Value::String(b)) => {
            match (
                DateTime::parse_from_rfc3339(a),
                DateTime::parse_from_rfc3339(b),
            ) {
                (Ok(x), Ok(y)) => Some(x.cmp(&y)),
                _ => Some(a.to_lowercase().cmp(&b.to_lowercase())),
            }
        }
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Null, Value::Null) => Some(std::cmp::Ordering::Equal),
        _ => None,
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    match (op, ordering) {
        (Op::Eq, o) => o == Some(Equal),
        (Op::Ne, o) => o != Some(Equal),
        (Op::Ge, Some(o)) => o != Less,
        (Op::Gt, Some(o)) => o == Greater,
        (Op::Le, Some(o)) => o != Greater,
        (Op::Lt, Some(o)) => o == Less,
        _ => false,
    }
}
