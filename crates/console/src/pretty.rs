//! Re-indents a JSON answer without parsing it into a map, so its keys stay in the order
//! the dialect wrote them and its numbers keep their exact text.

pub fn json(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = raw.trim().chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(ch) = chars.next() {
        if in_string {
            out.push(ch);
            match (escaped, ch) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match ch {
            '"' => {
                in_string = true;
                out.push(ch);
            }
            '{' | '[' => {
                out.push(ch);
                // An empty object or array stays on one line.
                let close = if ch == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(ch);
            }
            ',' => {
                out.push(ch);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_strings_and_numbers() {
        let raw = r#"{"z":1,"a":{"s":"x,{\"}","n":12345678901234567890},"e":[],"o":{}}"#;
        assert_eq!(
            super::json(raw),
            "{\n  \"z\": 1,\n  \"a\": {\n    \"s\": \"x,{\\\"}\",\n    \"n\": 12345678901234567890\n  },\n  \"e\": [],\n  \"o\": {}\n}"
        );
    }
}
