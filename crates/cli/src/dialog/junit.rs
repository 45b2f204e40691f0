//! JUnit XML of a dialog run: one testsuite, one testcase per step.

use super::runner::{Outcome, StepResult};

pub fn render(suite: &str, results: &[StepResult]) -> String {
    let failures = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    let skipped = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped))
        .count();
    let total: f64 = results.iter().map(|r| r.seconds).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{total:.3}\">\n",
        esc(suite),
        results.len()
    ));
    for r in results {
        x.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            esc(suite),
            esc(&format!("step {} (line {}): {}", r.index, r.line, r.name)),
            r.seconds
        ));
        match &r.outcome {
            Outcome::Passed(_) => x.push_str("/>\n"),
            Outcome::Skipped => {
                x.push_str(">\n    <skipped message=\"an earlier step failed\"/>\n  </testcase>\n")
            }
            Outcome::Failed(why) => {
                let first = why.lines().next().unwrap_or_default();
                x.push_str(&format!(
                    ">\n    <failure message=\"{}\">{}</failure>\n  </testcase>\n",
                    esc(first),
                    esc(why)
                ));
            }
        }
    }
    x.push_str("</testsuite>\n");
    x
}

/// Text for an attribute or an element. Characters XML 1.0 cannot hold at all (most
/// control characters) become U+FFFD rather than making the file unreadable.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_case_per_step_and_escaped_failures() {
        let rs = vec![
            StepResult {
                index: 1,
                line: 1,
                name: "alice says \"hi\"".into(),
                seconds: 0.01,
                outcome: Outcome::Passed("ok".into()),
            },
            StepResult {
                index: 2,
                line: 5,
                name: "bot answers /^hi/".into(),
                seconds: 1.0,
                outcome: Outcome::Failed("timed out <x> & \u{1}".into()),
            },
            StepResult {
                index: 3,
                line: 9,
                name: "x".into(),
                seconds: 0.0,
                outcome: Outcome::Skipped,
            },
        ];
        let x = render("s&s", &rs);
        assert!(
            x.contains("<testsuite name=\"s&amp;s\" tests=\"3\" failures=\"1\""),
            "{x}"
        );
        assert_eq!(x.matches("<testcase ").count(), 3);
        assert_eq!(x.matches("<failure ").count(), 1);
        assert!(
            x.contains("timed out &lt;x&gt; &amp; \u{FFFD}</failure>"),
            "{x}"
        );
        assert!(x.contains("alice says &quot;hi&quot;"), "{x}");
    }
}
