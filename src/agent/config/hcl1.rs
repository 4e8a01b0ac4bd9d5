//! The HCL dialect of Nomad's agent files. Nomad reads them with HCL 1, whose syntax the
//! HCL 2 parser the job files use refuses where agent files need it: quoted keys in a
//! block (`options { "driver.denylist" = "java" }`), dotted bare keys, `key "label" {…}`
//! nesting. So a small parser of our own, keeping each key's line for error messages.
//!
//! Grammar: `items := (keys ('=' value | object) [','])*`, `keys := (IDENT|STRING)+`,
//! `value := STRING | HEREDOC | NUMBER | true | false | '[' values ']' | object`,
//! `object := '{' items '}'`. `key "a" "b" { … }` is `key = { a = { b = { … } } }`.

/// A parsed value and the line it starts on (0 when unknown, as in JSON files).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Number(f64),
    Bool(bool),
    List(Vec<Node>),
    /// Entries in file order; a key may repeat (`plugin "a" {}` `plugin "b" {}`).
    Object(Vec<Entry>),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub line: usize,
    pub node: Node,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses a whole file into its top-level object.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
        column: 1,
    };
    let entries = p.items(None)?;
    Ok(Node {
        line: 1,
        value: Value::Object(entries),
    })
}

/// A JSON document as the same tree (serde_json keeps no positions: lines are 0).
pub fn from_json(value: serde_json::Value) -> Node {
    let value = match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::List(a.into_iter().map(from_json).collect()),
        serde_json::Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(key, v)| Entry {
                    key,
                    line: 0,
                    node: from_json(v),
                })
                .collect(),
        ),
    };
    Node { line: 0, value }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    column: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            line: self.line,
            column: self.column,
            message: message.into(),
        })
    }

    /// Skips whitespace (newlines included: HCL 1 does not need them) and comments.
    fn skip_blank(&mut self) -> Result<(), ParseError> {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('#'), _) | (Some('/'), Some('/')) => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    self.bump();
                    self.bump();
                    loop {
                        match (self.peek(), self.peek_at(1)) {
                            (Some('*'), Some('/')) => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            (Some(_), _) => {
                                self.bump();
                            }
                            (None, _) => return self.error("unterminated /* comment"),
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Items up to `close` (`}`), or to the end of the file when `close` is None.
    fn items(&mut self, close: Option<char>) -> Result<Vec<Entry>, ParseError> {
        let mut entries = Vec::new();
        loop {
            self.skip_blank()?;
            match self.peek() {
                None if close.is_none() => return Ok(entries),
                None => return self.error("unexpected end of file: expected `}`"),
                Some(c) if Some(c) == close => {
                    self.bump();
                    return Ok(entries);
                }
                Some(',') if !entries.is_empty() => {
                    self.bump();
                    continue;
                }
                _ => {}
            }
            entries.push(self.item()?);
        }
    }

    fn item(&mut self) -> Result<Entry, ParseError> {
        let line = self.line;
        let mut keys = vec![self.key()?];
        loop {
            self.skip_blank()?;
            match self.peek() {
                Some('=') | Some(':') => {
                    self.bump();
                    if keys.len() > 1 {
                        return self.error(format!(
                            "{:?} takes a block, not `=`: write `{} {{ … }}`",
                            keys[0],
                            keys.join(" ")
                        ));
                    }
                    self.skip_blank()?;
                    let node = self.value()?;
                    return Ok(Entry {
                        key: keys.remove(0),
                        line,
                        node,
                    });
                }
                Some('{') => {
                    let start = self.line;
                    self.bump();
                    let body = self.items(Some('}'))?;
                    let mut node = Node {
                        line: start,
                        value: Value::Object(body),
                    };
                    // `a "b" "c" { … }` nests as a = { b = { c = { … } } }.
                    while keys.len() > 1 {
                        let key = keys.pop().unwrap_or_default();
                        node = Node {
                            line,
                            value: Value::Object(vec![Entry { key, line, node }]),
                        };
                    }
                    return Ok(Entry {
                        key: keys.remove(0),
                        line,
                        node,
                    });
                }
                Some(c) if c == '"' || is_ident_start(c) => keys.push(self.key()?),
                Some(c) => {
                    return self.error(format!(
                        "expected `=` or `{{` after {:?}, found {c:?}",
                        keys.join(" ")
                    ))
                }
                None => {
                    return self.error(format!(
                        "unexpected end of file after {:?}: expected `=` or `{{`",
                        keys.join(" ")
                    ))
                }
            }
        }
    }

    fn key(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Some('"') => self.string(),
            Some(c) if is_ident_start(c) => Ok(self.ident()),
            Some(c) => self.error(format!("expected a key, found {c:?}")),
            None => self.error("expected a key, found the end of the file"),
        }
    }

    fn ident(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek().filter(|&c| is_ident_char(c)) {
            s.push(c);
            self.bump();
        }
        s
    }

    fn value(&mut self) -> Result<Node, ParseError> {
        let line = self.line;
        let value = match self.peek() {
            Some('"') => Value::String(self.string()?),
            Some('<') if self.peek_at(1) == Some('<') => Value::String(self.heredoc()?),
            Some('{') => {
                self.bump();
                Value::Object(self.items(Some('}'))?)
            }
            Some('[') => {
                self.bump();
                Value::List(self.list()?)
            }
            Some(c) if c == '-' || c == '+' || c.is_ascii_digit() => self.number()?,
            Some(c) if is_ident_start(c) => match self.ident().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                other => {
                    return self.error(format!(
                        "{other:?} is not a value: quote strings (\"{other}\")"
                    ))
                }
            },
            Some(c) => return self.error(format!("expected a value, found {c:?}")),
            None => return self.error("expected a value, found the end of the file"),
        };
        Ok(Node { line, value })
    }

    fn list(&mut self) -> Result<Vec<Node>, ParseError> {
        let mut items = Vec::new();
        loop {
            self.skip_blank()?;
            match self.peek() {
                Some(']') => {
                    self.bump();
                    return Ok(items);
                }
                Some(',') if !items.is_empty() => {
                    self.bump();
                }
                None => return self.error("unexpected end of file: expected `]`"),
                _ => items.push(self.value()?),
            }
        }
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let mut s = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.' | '_'))
        {
            s.push(c);
            self.bump();
        }
        let parsed = if let Some(hex) = s.strip_prefix("0x") {
            i64::from_str_radix(hex, 16).ok().map(|n| n as f64)
        } else {
            s.parse::<f64>().ok().filter(|n| n.is_finite())
        };
        match parsed {
            Some(n) => Ok(Value::Number(n)),
            None => self.error(format!("{s:?} is not a number")),
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.bump(); // the opening quote
        let mut s = String::new();
        // Inside `${…}` quotes nest (`"${f("x")}"`): kept as text, never evaluated.
        let mut depth = 0usize;
        loop {
            let Some(c) = self.peek() else {
                return self.error("unterminated string");
            };
            match c {
                '\n' => return self.error("unterminated string (strings end on their line)"),
                '"' if depth == 0 => {
                    self.bump();
                    return Ok(s);
                }
                '\\' => {
                    self.bump();
                    s.push(self.escape()?);
                }
                '$' if self.peek_at(1) == Some('{') => {
                    depth += 1;
                    s.push_str("${");
                    self.bump();
                    self.bump();
                }
                '}' if depth > 0 => {
                    depth -= 1;
                    s.push('}');
                    self.bump();
                }
                _ => {
                    s.push(c);
                    self.bump();
                }
            }
        }
    }

    fn escape(&mut self) -> Result<char, ParseError> {
        let Some(c) = self.bump() else {
            return self.error("unterminated string");
        };
        Ok(match c {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            '\\' => '\\',
            '"' => '"',
            'u' | 'U' => {
                let n = if c == 'u' { 4 } else { 8 };
                let mut hex = String::new();
                for _ in 0..n {
                    match self.bump() {
                        Some(h) if h.is_ascii_hexdigit() => hex.push(h),
                        _ => return self.error(format!("\\{c} needs {n} hex digits")),
                    }
                }
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => ch,
                    None => return self.error(format!("\\{c}{hex} is not a character")),
                }
            }
            other => return self.error(format!("unknown escape \\{other}")),
        })
    }

    /// `<<EOF … EOF`, or `<<-EOF` whose lines lose their common indentation.
    fn heredoc(&mut self) -> Result<String, ParseError> {
        self.bump();
        self.bump();
        let indented = self.peek() == Some('-');
        if indented {
            self.bump();
        }
        let marker = self.ident();
        if marker.is_empty() {
            return self.error("a heredoc needs a marker: <<EOF");
        }
        while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
            self.bump();
        }
        if self.bump() != Some('\n') {
            return self.error("a heredoc's marker ends its line");
        }
        let mut lines = Vec::new();
        loop {
            if self.peek().is_none() {
                return self.error(format!("heredoc without its closing {marker:?}"));
            }
            let mut line = String::new();
            while let Some(c) = self.peek().filter(|&c| c != '\n') {
                line.push(c);
                self.bump();
            }
            let trimmed = line.trim_end_matches('\r');
            let end = if indented {
                trimmed.trim_start()
            } else {
                trimmed
            };
            if end == marker {
                break;
            }
            lines.push(line);
            self.bump(); // newline
        }
        if indented {
            let indent = lines
                .iter()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.len() - l.trim_start().len())
                .min()
                .unwrap_or(0);
            for l in &mut lines {
                *l = l.get(indent..).unwrap_or("").to_string();
            }
        }
        Ok(lines.iter().map(|l| format!("{l}\n")).collect())
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(node: &Node) -> &[Entry] {
        match &node.value {
            Value::Object(e) => e,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn values_keys_and_lines() {
        let text = r#"# comment
name = "n1" // trailing
/* a
   block */
client {
  "driver.denylist" = "java"
  driver.allowlist = "exec"
  ports = [1, 2.5, -3, 0x10,]
  ok = true
}
plugin "raw_exec" "x" { config { enabled = true } }
s = "a\"b\u0041${f("x")}"
h = <<-EOF
    one
      two
    EOF
m = { a = 1, "b.c" = "d" }
"#;
        let root = parse(text).unwrap();
        let top = obj(&root);
        let keys: Vec<_> = top.iter().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(
            keys,
            [
                ("name", 2),
                ("client", 5),
                ("plugin", 11),
                ("s", 12),
                ("h", 13),
                ("m", 17)
            ]
        );
        let client = obj(&top[1].node);
        assert_eq!(client[0].key, "driver.denylist");
        assert_eq!(client[0].line, 6);
        assert_eq!(client[1].key, "driver.allowlist");
        assert_eq!(
            client[2].node.value,
            Value::List(
                [1.0, 2.5, -3.0, 16.0]
                    .iter()
                    .map(|&n| Node {
                        line: 8,
                        value: Value::Number(n)
                    })
                    .collect()
            )
        );
        assert_eq!(client[3].node.value, Value::Bool(true));
        let raw = obj(&obj(&top[2].node)[0].node);
        assert_eq!(raw[0].key, "x");
        assert_eq!(top[3].node.value, Value::String("a\"bA${f(\"x\")}".into()));
        assert_eq!(top[4].node.value, Value::String("one\n  two\n".into()));
        assert_eq!(obj(&top[5].node)[1].key, "b.c");
    }

    #[test]
    fn errors_have_lines() {
        let cases = [
            ("a = \n", 2, "expected a value"),
            ("a = \"x\nb = 1\n", 1, "unterminated string"),
            ("client {\n  x = 1\n", 3, "expected `}`"),
            ("a = yes\n", 1, "not a value"),
            ("a b = 1\n", 1, "takes a block"),
            ("a = 1x\n", 1, "not a number"),
            ("\n\na ; 1\n", 3, "expected `=` or `{`"),
        ];
        for (text, line, message) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.message.contains(message), "{text:?}: {err}");
        }
    }
}
