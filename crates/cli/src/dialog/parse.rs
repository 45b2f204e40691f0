//! The dialog file (TOML, docs/ci.md "Scripted dialogs"): read, checked step by step, with
//! every mistake named by its line.

use crate::chat::duration;
use regex::Regex;
use serde::Deserialize;
use std::time::Duration;

/// How long an expectation waits when neither it nor `[defaults]` says.
const DEFAULT_WITHIN: Duration = Duration::from_secs(5);

pub struct Dialog {
    /// The test suite's name: `name`, else the file's stem.
    pub name: String,
    pub tenant: Option<String>,
    pub steps: Vec<Step>,
}

pub struct Step {
    /// Line of the step's `[[step]]` header.
    pub line: usize,
    /// `name`, else a description of the action.
    pub name: String,
    pub action: Action,
}

pub enum Action {
    Say {
        text: String,
        sender: String,
        chat: String,
    },
    Expect {
        pattern: Regex,
        from: String,
        chat: String,
        within: Duration,
    },
    /// Recall the sender's last message in the chat.
    Recall { sender: String, chat: String },
    ExpectEvent {
        event_type: String,
        app: String,
        chat: Option<String>,
        within: Duration,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDe {
    name: Option<String>,
    tenant: Option<String>,
    #[serde(default)]
    defaults: Common,
    #[serde(default)]
    step: Vec<toml::Spanned<StepDe>>,
}

/// Keys a step shares with `[defaults]`.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct Common {
    #[serde(rename = "as")]
    sender: Option<String>,
    from: Option<String>,
    chat: Option<String>,
    app: Option<String>,
    within: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepDe {
    name: Option<String>,
    say: Option<String>,
    expect: Option<String>,
    recall: Option<String>,
    expect_event: Option<String>,
    #[serde(rename = "as")]
    sender: Option<String>,
    from: Option<String>,
    chat: Option<String>,
    app: Option<String>,
    within: Option<String>,
}

/// Parses a dialog; `stem` names it when the file does not.
pub fn parse(text: &str, stem: &str) -> anyhow::Result<Dialog> {
    let f: FileDe =
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))?;
    let mut steps = Vec::with_capacity(f.step.len());
    for s in &f.step {
        let line = header_line(text, s.span().start);
        let step =
            step(s.get_ref(), &f.defaults).map_err(|e| anyhow::anyhow!("line {line}: {e}"))?;
        steps.push(Step { line, ..step });
    }
    anyhow::ensure!(!steps.is_empty(), "the dialog has no [[step]]");
    Ok(Dialog {
        name: f.name.unwrap_or_else(|| stem.to_string()),
        tenant: f.tenant,
        steps,
    })
}

/// The line of the `[[step]]` header a table's span belongs to (the span may start at the
/// table's first key).
fn header_line(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    let start = text[..at]
        .rfind("[[step]]")
        .filter(|_| !text[at..].trim_start().starts_with("[[step]]"))
        .unwrap_or(at);
    text[..start].matches('\n').count() + 1
}

fn step(s: &StepDe, d: &Common) -> Result<Step, String> {
    let actions = [
        ("say", &s.say),
        ("expect", &s.expect),
        ("recall", &s.recall),
        ("expect_event", &s.expect_event),
    ];
    let given: Vec<&str> = actions
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| *k)
        .collect();
    let kind = match given.as_slice() {
        [one] => *one,
        [] => return Err("a step needs one of say, expect, recall or expect_event".into()),
        more => return Err(format!("a step has one action, not {}", more.join(" and "))),
    };
    // Keys that mean nothing for this action are refused rather than ignored.
    let allowed: &[&str] = match kind {
        "say" | "recall" => &["as", "chat"],
        "expect" => &["from", "chat", "within"],
        _ => &["app", "chat", "within"],
    };
    for (key, v) in [
        ("as", &s.sender),
        ("from", &s.from),
        ("chat", &s.chat),
        ("app", &s.app),
        ("within", &s.within),
    ] {
        if v.is_some() && !allowed.contains(&key) {
            return Err(format!("{key} does not apply to a {kind} step"));
        }
    }
    let need = |key: &str, v: &Option<String>, def: &Option<String>| {
        v.clone()
            .or_else(|| def.clone())
            .ok_or_else(|| format!("a {kind} step needs {key} (or {key} in [defaults])"))
    };
    let within = match s.within.as_ref().or(d.within.as_ref()) {
        Some(w) => duration::parse(w).map_err(|e| format!("within: {e}"))?,
        None => DEFAULT_WITHIN,
    };
    let (action, label) = match kind {
        "say" => {
            let text = s.say.clone().unwrap_or_default();
            let sender = need("as", &s.sender, &d.sender)?;
            let chat = need("chat", &s.chat, &d.chat)?;
            let label = format!("{sender} says {text:?} in {chat}");
            (Action::Say { text, sender, chat }, label)
        }
        "expect" => {
            let src = s.expect.clone().unwrap_or_default();
            let pattern = Regex::new(&src).map_err(|e| format!("expect: {e}"))?;
            let from = need("from", &s.from, &d.from)?;
            let chat = need("chat", &s.chat, &d.chat)?;
            let label = format!("{from} answers /{src}/ in {chat}");
            let a = Action::Expect {
                pattern,
                from,
                chat,
                within,
            };
            (a, label)
        }
        "recall" => {
            let what = s.recall.clone().unwrap_or_default();
            if what != "last" {
                return Err(format!(
                    "recall takes \"last\" (the sender's last message), not {what:?}"
                ));
            }
            let sender = need("as", &s.sender, &d.sender)?;
            let chat = need("chat", &s.chat, &d.chat)?;
            let label = format!("{sender} recalls their last message in {chat}");
            (Action::Recall { sender, chat }, label)
        }
        _ => {
            let event_type = s.expect_event.clone().unwrap_or_default();
            if event_type.is_empty() {
                return Err("expect_event needs an event type".into());
            }
            let app = need("app", &s.app, &d.app)?;
            // Only a chat the step names filters events; a default chat does not.
            let chat = s.chat.clone();
            let label = format!("{app} receives {event_type}");
            let a = Action::ExpectEvent {
                event_type,
                app,
                chat,
                within,
            };
            (a, label)
        }
    };
    Ok(Step {
        line: 0,
        name: s.name.clone().unwrap_or(label),
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse(text, "t") {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn steps_take_defaults_and_their_header_line() {
        let d = parse(
            "name = \"hello\"\n[defaults]\nchat = \"ops\"\n\n[[step]]\nsay = \"hi @bot\"\nas = \"alice\"\n\n[[step]]\nexpect = \"^hi\"\nfrom = \"bot\"\nwithin = \"250ms\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(d.name, "hello");
        assert_eq!(d.steps.len(), 2);
        assert_eq!(d.steps[0].line, 5);
        assert_eq!(d.steps[1].line, 9);
        match &d.steps[1].action {
            Action::Expect { chat, within, .. } => {
                assert_eq!(chat, "ops");
                assert_eq!(*within, Duration::from_millis(250));
            }
            _ => panic!("not an expect step"),
        }
    }

    #[test]
    fn mistakes_are_named_with_their_line() {
        let e = err("[[step]]\nsay = \"x\"\nas = \"a\"\nchat = \"c\"\n\n[[step]]\nsya = \"x\"\n");
        assert!(e.contains("line 7") && e.contains("sya"), "{e}");
        let e = err("[[step]]\nsay = \"x\"\nexpect = \"y\"\n");
        assert!(e.contains("line 1") && e.contains("one action"), "{e}");
        let e = err("[[step]]\nsay = \"x\"\nas = \"a\"\nchat = \"c\"\nfrom = \"b\"\n");
        assert!(e.contains("from does not apply to a say step"), "{e}");
        let e = err("[[step]]\nexpect = \"(\"\nfrom = \"b\"\nchat = \"c\"\n");
        assert!(e.contains("line 1: expect:"), "{e}");
        let e = err("[[step]]\nrecall = \"first\"\nas = \"a\"\nchat = \"c\"\n");
        assert!(e.contains("recall takes"), "{e}");
        let e = err("[[step]]\nsay = \"x\"\nas = \"a\"\n");
        assert!(e.contains("needs chat"), "{e}");
        assert!(err("name = \"x\"\n").contains("no [[step]]"));
    }
}
