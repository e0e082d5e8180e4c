//! Text detection through `vigil scan`: every disguise of every phrase is flagged with the
//! span of the disguised phrase in the original text; Scunthorpe-style hard negatives are
//! not; regular-expression and co-occurrence rules flag with their detector; an over-long
//! text is scanned up to the cap and reported, never silently cut; every rule and keyword of
//! the example lists flags its plain and disguised cases and none of the benign sentences
//! close to it.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{assert_valid, json_lines, run, run_ok, schema, vigil};
use serde_json::{Value, json};

const KEYWORDS: &str = "\
rule_id,term,category,whole_word,severity
secret,keep this a secret,grooming.secrecy,true,high
alone,are you home alone,grooming.isolation,true,high
snap,add me on snapchat,grooming.platform_move,true,medium
pic,send me a pic,sexual.solicitation,true,high
parents,dont tell your parents,grooming.secrecy,true,high
sext,sext,sexual.solicitation,true,high
sex,sex,sexual,true,medium
anal,anal,sexual,true,medium
cum,cum,sexual,true,medium
rapist,rapist,violence,true,medium
nude,nude,sexual,true,medium
ass,ass,insult,true,low
hoe,hoe,insult,true,low
";

const RULES: &str = r#"
[[regex]]
id = "age-statement"
pattern = '\bi\s*(?:am|m)\s+(?:1[0-7]|[89])\s*(?:yo|years?\s+old)?\b'
category = "grooming.age"
severity = "high"

[[cooccurrence]]
id = "age-then-meet"
category = "grooming.meeting"
severity = "high"
within_words = 12
groups = [["how old are you", "what grade are you in"], ["meet up", "come over", "pick you up"]]
"#;

fn write_config(dir: &Path, max_scan_bytes: u64) -> String {
    std::fs::write(dir.join("kw.csv"), KEYWORDS).unwrap();
    std::fs::write(dir.join("rules.toml"), RULES).unwrap();
    let config = dir.join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "[lists]\nkeyword_lists = [\"kw.csv\", \"rules.toml\"]\n\
             [text]\nmax_scan_bytes = {max_scan_bytes}\n"
        ),
    )
    .unwrap();
    config.display().to_string()
}

/// JSON lines of one message per text, with ids `m-0`, `m-1`, ….
fn messages(texts: &[String]) -> Vec<u8> {
    let mut input = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let message = json!({
            "message_id": format!("m-{i}"), "conversation_id": "c-1", "sender_id": "u-1",
            "recipient_ids": ["u-2"], "sent_at": "2026-11-26T07:00:00Z", "text": text,
        });
        input.extend(serde_json::to_vec(&message).unwrap());
        input.push(b'\n');
    }
    input
}

/// Scans one message per text; returns the flags by message index and the error records.
fn scan(texts: &[String], max_scan_bytes: u64) -> (Vec<Option<Value>>, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), max_scan_bytes);
    let input = messages(texts);
    let output = run(
        vigil(dir.path()).args(["scan", "--config", &config, "-"]),
        &input,
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    let validator = schema("flag");
    let mut flags = vec![None; texts.len()];
    for flag in json_lines(&output.stdout) {
        assert_valid(&validator, &flag);
        let id = flag["message_id"].as_str().unwrap();
        let i: usize = id.trim_start_matches("m-").parse().unwrap();
        flags[i] = Some(flag);
    }
    let errors = json_lines(&output.stderr)
        .into_iter()
        .filter(|e| e.get("reason").is_some())
        .collect();
    (flags, errors)
}

/// (rule id, [start, end]) of every match of a flag.
fn matches(flag: &Value) -> Vec<(String, Vec<(u64, u64)>)> {
    flag["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let spans = m["spans"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (s["start"].as_u64().unwrap(), s["end"].as_u64().unwrap()))
                .collect();
            (m["rule_id"].as_str().unwrap().to_string(), spans)
        })
        .collect()
}

fn map_letters(phrase: &str, f: impl Fn(char) -> String) -> String {
    phrase.chars().map(f).collect()
}

/// Letters of each word joined by `sep`; words keep their spaces.
fn spaced(phrase: &str, sep: &str) -> String {
    phrase
        .split(' ')
        .map(|w| w.chars().map(String::from).collect::<Vec<_>>().join(sep))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A named way of disguising a phrase.
type Disguise = (&'static str, fn(&str) -> String);

fn disguises() -> Vec<Disguise> {
    vec![
        ("plain", |p| p.to_string()),
        ("upper", |p| p.to_uppercase()),
        ("leet", |p| {
            map_letters(p, |c| {
                match c {
                    'a' => '4',
                    'e' => '3',
                    'i' => '1',
                    'o' => '0',
                    's' => '5',
                    't' => '7',
                    c => c,
                }
                .to_string()
            })
        }),
        ("leet-symbols", |p| {
            map_letters(p, |c| {
                match c {
                    'a' => '@',
                    's' => '$',
                    c => c,
                }
                .to_string()
            })
        }),
        ("cyrillic", |p| {
            map_letters(p, |c| {
                match c {
                    'a' => 'а',
                    'e' => 'е',
                    'o' => 'о',
                    'p' => 'р',
                    'c' => 'с',
                    'x' => 'х',
                    'y' => 'у',
                    'i' => 'і',
                    c => c,
                }
                .to_string()
            })
        }),
        ("zero-width", |p| {
            let chars: Vec<String> = p.chars().map(String::from).collect();
            chars.join("\u{200b}")
        }),
        ("dots", |p| spaced(p, ".")),
        ("spaces", |p| spaced(p, " ")),
        ("dashes", |p| spaced(p, "-")),
        ("underscores", |p| spaced(p, "_")),
        ("asterisks", |p| spaced(p, "*")),
        ("accents", |p| {
            map_letters(p, |c| match c {
                'a' => "à".into(),
                'e' => "é".into(),
                'o' => "ö".into(),
                'u' => "û".into(),
                'i' => "e\u{301}".replace('e', "i"),
                c => c.to_string(),
            })
        }),
        ("full-width", |p| {
            map_letters(p, |c| match c {
                ' ' => " ".to_string(),
                c => char::from_u32(c as u32 - 0x21 + 0xFF01)
                    .unwrap()
                    .to_string(),
            })
        }),
        ("stretched", |p| {
            map_letters(p, |c| match c {
                'a' | 'e' | 'o' | 'u' => c.to_string().repeat(4),
                c => c.to_string(),
            })
        }),
    ]
}

#[test]
fn every_disguise_of_every_phrase_is_flagged_with_its_original_span() {
    let phrases = [
        ("keep this a secret", "secret"),
        ("are you home alone", "alone"),
        ("add me on snapchat", "snap"),
        ("send me a pic", "pic"),
        ("dont tell your parents", "parents"),
    ];
    let mut cases = Vec::new();
    for (name, disguise) in disguises() {
        for (phrase, rule) in phrases {
            let disguised = disguise(phrase);
            let text = format!("hey {disguised} ok?");
            let end = 4 + disguised.chars().count() as u64;
            cases.push((name, rule, text, (4, end)));
        }
    }
    let texts: Vec<String> = cases.iter().map(|c| c.2.clone()).collect();
    let (flags, errors) = scan(&texts, 1 << 20);
    assert!(errors.is_empty(), "{errors:?}");
    for ((name, rule, text, span), flag) in cases.iter().zip(&flags) {
        let flag = flag
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: {text:?} not flagged"));
        let found = matches(flag);
        assert!(
            found.contains(&(rule.to_string(), vec![*span])),
            "{name}: {text:?}: {found:?}"
        );
    }
}

#[test]
fn hard_negatives_are_not_flagged() {
    let texts: Vec<String> = [
        "I bought a brass sextant at the market",
        "the string sextet played Brahms",
        "she is the new secretary of the club",
        "history class starts at nine",
        "the data analysis is done",
        "we walked along the canal",
        "cucumber salad for lunch",
        "the cumulative score was high",
        "my therapist said hi",
        "Scunthorpe United won 2-1",
        "these new shoes hurt",
        "assassins creed is a game",
        "a classic passage from the book",
        "nudge me when you are done",
        "Middlesex county cricket",
        "is extra time allowed",
        "its exciting news",
        "the analyst called back",
        "I'm 25 years old",
        "how old are you? I am 30",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect();
    let (flags, _) = scan(&texts, 1 << 20);
    for (text, flag) in texts.iter().zip(&flags) {
        assert!(
            flag.is_none(),
            "{text:?} was flagged: {:?}",
            flag.as_ref().map(matches)
        );
    }
}

#[test]
fn rule_files_flag_with_their_detector() {
    let texts = vec![
        "btw i am 13 years old".to_string(),
        "how old are you?? we could meet up saturday".to_string(),
        "how old are you? one two three four five six seven eight nine ten eleven come over"
            .to_string(),
    ];
    let (flags, _) = scan(&texts, 1 << 20);
    let detector = |flag: &Value| flag["matches"][0]["detector"].as_str().unwrap().to_string();
    let age = flags[0].as_ref().unwrap();
    assert_eq!(detector(age), "regex");
    assert_eq!(matches(age), [("age-statement".to_string(), vec![(4, 21)])]);
    let meet = flags[1].as_ref().unwrap();
    assert_eq!(detector(meet), "cooccurrence");
    assert_eq!(
        matches(meet),
        [("age-then-meet".to_string(), vec![(0, 15), (27, 34)])]
    );
    assert!(flags[2].is_none(), "13 words apart: {:?}", flags[2]);
}

#[test]
fn text_over_the_cap_is_scanned_up_to_it_and_reported() {
    let filler = "é".repeat(60); // 120 bytes, 2 per character
    let texts = vec![
        format!("keep this a secret {filler}"),
        format!("{filler} keep this a secret"),
        "keep this a secret".to_string(),
    ];
    let (flags, errors) = scan(&texts, 100);
    assert!(flags[0].is_some(), "a match before the cap counts");
    assert!(flags[1].is_none(), "beyond the cap nothing is searched");
    assert!(flags[2].is_some());
    let truncated: Vec<&str> = errors
        .iter()
        .filter(|e| e["reason"] == "text_truncated")
        .map(|e| e["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(truncated, ["m-0", "m-1"], "{errors:?}");
    let validator = schema("error-record");
    for error in &errors {
        assert_valid(&validator, error);
        assert!(!error.to_string().contains("secret"), "content in {error}");
    }
}

/// A match a flag must hold: the rule id, and the matched parts of the text, one per span.
type Expected = (&'static str, &'static [&'static str]);

/// Sentences each rule and keyword of `examples/lists/` must flag (plain and disguised),
/// with every match the example lists report for them: (the rule the case is for, text,
/// the matches).
const EXAMPLE_FLAGGED: &[(&str, &str, &[Expected])] = &[
    (
        "rx-age-statement-001",
        "i am 14",
        &[("rx-age-statement-001", &["i am 14"])],
    ),
    (
        "rx-age-statement-001",
        "im 13 yo lol",
        &[("rx-age-statement-001", &["im 13 yo"])],
    ),
    (
        "rx-age-statement-001",
        "i'm 9 years old",
        &[("rx-age-statement-001", &["i'm 9 years old"])],
    ),
    (
        "rx-age-statement-001",
        "I’M 15, you?",
        &[("rx-age-statement-001", &["I’M 15,"])],
    ),
    (
        "rx-age-statement-001",
        "i m 16 lol",
        &[("rx-age-statement-001", &["i m 16 lol"])],
    ),
    (
        "rx-age-statement-001",
        "iam １２ and you",
        &[("rx-age-statement-001", &["iam １２ and"])],
    ),
    (
        "rx-contact-phone-001",
        "call me at 555-123-4567",
        &[("rx-contact-phone-001", &["555-123-4567"])],
    ),
    (
        "rx-contact-phone-001",
        "(555) 123 4567 is my cell",
        &[("rx-contact-phone-001", &["(555) 123 4567"])],
    ),
    (
        "rx-contact-phone-001",
        "+1 555.123.4567",
        &[("rx-contact-phone-001", &["+1 555.123.4567"])],
    ),
    (
        "rx-contact-phone-001",
        "text me +15551234567",
        &[("rx-contact-phone-001", &["+15551234567"])],
    ),
    (
        "rx-platform-handle-001",
        "my snap is cool.kid_22",
        &[("rx-platform-handle-001", &["snap is cool.kid_22"])],
    ),
    (
        "rx-platform-handle-001",
        "sc: jessica",
        &[("rx-platform-handle-001", &["sc: jessica"])],
    ),
    (
        "rx-platform-handle-001",
        "add me on insta @jess",
        &[("rx-platform-handle-001", &["insta @jess"])],
    ),
    (
        "rx-platform-handle-001",
        "IG - Jess_X",
        &[("rx-platform-handle-001", &["IG - Jess_X"])],
    ),
    (
        "rx-platform-handle-001",
        "kik coolkid2010",
        &[("rx-platform-handle-001", &["kik coolkid2010"])],
    ),
    (
        "rx-payment-ask-001",
        "send me $50 now",
        &[("rx-payment-ask-001", &["send me $50"])],
    ),
    (
        "rx-payment-ask-001",
        "give me 20 bucks",
        &[("rx-payment-ask-001", &["give me 20 bucks"])],
    ),
    (
        "rx-payment-ask-001",
        "send 400 robux pls",
        &[("rx-payment-ask-001", &["send 400 robux"])],
    ),
    (
        "co-age-meeting-001",
        "how old are you? i could pick you up",
        &[
            ("kw-age-001", &["how old are you"]),
            ("co-age-meeting-001", &["how old are you", "pick you up"]),
        ],
    ),
    (
        "co-age-meeting-001",
        "what grade are you in? where do you live",
        &[(
            "co-age-meeting-001",
            &["what grade are you in", "where do you live"],
        )],
    ),
    (
        "co-secrecy-gift-001",
        "dont tell ur mom, i'll buy you robux",
        &[("co-secrecy-gift-001", &["dont tell ur", "buy you"])],
    ),
    (
        "co-secrecy-gift-001",
        "keep it between us, i'll get you a gift card",
        &[("co-secrecy-gift-001", &["keep it between us", "gift card"])],
    ),
    (
        "kw-secrecy-001",
        "k33p th1s a s3cret ok",
        &[("kw-secrecy-001", &["k33p th1s a s3cret"])],
    ),
    (
        "kw-secrecy-002",
        "Don't tell your parents about us",
        &[("kw-secrecy-002", &["Don't tell your parents"])],
    ),
    (
        "kw-secrecy-003",
        "dont tell your p.a.r.e.n.t.s",
        &[("kw-secrecy-003", &["dont tell your p.a.r.e.n.t.s"])],
    ),
    (
        "kw-secrecy-004",
        "d.e.l.e.t.e this chat",
        &[("kw-secrecy-004", &["d.e.l.e.t.e this chat"])],
    ),
    (
        "kw-isolation-001",
        "ARE YOU HOME ALONE",
        &[("kw-isolation-001", &["ARE YOU HOME ALONE"])],
    ),
    (
        "kw-isolation-002",
        "are y0u al0ne?",
        &[("kw-isolation-002", &["are y0u al0ne"])],
    ),
    (
        "kw-platform-001",
        "add me on snap chat",
        &[("kw-platform-001", &["add me on snap chat"])],
    ),
    ("kw-sexual-001", "s3xt me", &[("kw-sexual-001", &["s3xt"])]),
    (
        "kw-age-001",
        "h0w old are you",
        &[("kw-age-001", &["h0w old are you"])],
    ),
];

/// Benign sentences close to a rule or keyword of `examples/lists/` (the rule they are
/// close to, text): no example rule may flag them.
const EXAMPLE_BENIGN: &[(&str, &str)] = &[
    ("rx-age-statement-001", "i am 10 minutes away"),
    ("rx-age-statement-001", "im 15 mins late"),
    ("rx-age-statement-001", "i'm 12 hours ahead of you"),
    ("rx-age-statement-001", "I am 100% sure"),
    ("rx-contact-phone-001", "your order number is 4815162342"),
    (
        "rx-contact-phone-001",
        "tracking 123456789012 arrives monday",
    ),
    ("rx-contact-phone-001", "the meeting is 2026-11-26 at 10:30"),
    (
        "rx-contact-phone-001",
        "see <20030905221055.GA22354@doc.ic.ac.uk>",
    ),
    ("rx-platform-handle-001", "see you at school tomorrow"),
    ("rx-platform-handle-001", "the script failed again"),
    ("rx-platform-handle-001", "turn off the screen"),
    ("rx-platform-handle-001", "we built an igloo"),
    ("rx-platform-handle-001", "a snapshot of the instant"),
    ("rx-platform-handle-001", "discord is down again"),
    ("rx-platform-handle-001", "my snap is fun"),
    ("rx-platform-handle-001", "ig so"),
    ("rx-payment-ask-001", "give me 5 minutes"),
    ("rx-payment-ask-001", "send me 3 photos"),
    ("rx-payment-ask-001", "i'd give 100 dollars to see that"),
    (
        "co-age-meeting-001",
        "how old are your kids? we should meet up",
    ),
    (
        "co-secrecy-gift-001",
        "don't tell me you lost the gift card again",
    ),
    ("kw-secrecy-001", "let's keep this a secretary's task"),
    (
        "kw-secrecy-002",
        "i don't tell your parent's friends anything",
    ),
    ("kw-secrecy-003", "dont tell your parenting class"),
    ("kw-secrecy-004", "how do i delete this chatroom"),
    ("kw-isolation-001", "they are your home, alone time is rare"),
    ("kw-isolation-002", "are you a lonely person"),
    ("kw-platform-001", "he added me on snapchat"),
    ("kw-sexual-001", "she plays in a sextet"),
    ("kw-sexual-001", "the sextant is broken"),
    ("kw-sexual-001", "this extra cheese"),
    ("kw-age-001", "how old are your kids"),
];

/// The rule ids of `examples/lists/`: `rule_id` of the CSV lists, `id` of the rule files.
fn example_rule_ids() -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for entry in std::fs::read_dir(common::root().join("examples/lists")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => ids.extend(text.lines().filter_map(|l| {
                let id = l.strip_prefix("id = \"")?.strip_suffix('"')?;
                Some(id.to_string())
            })),
            Some("csv") if text.contains("rule_id") => {
                let mut lines = text.lines().filter(|l| !l.starts_with('#'));
                assert!(lines.next().unwrap().starts_with("rule_id,"));
                ids.extend(lines.map(|l| l.split(',').next().unwrap().to_string()));
            }
            _ => {}
        }
    }
    ids
}

#[test]
fn every_example_rule_and_keyword_flags_its_cases_and_no_benign_sentence() {
    let ids = example_rule_ids();
    let flagged: BTreeSet<String> = EXAMPLE_FLAGGED.iter().map(|c| c.0.to_string()).collect();
    let benign: BTreeSet<String> = EXAMPLE_BENIGN.iter().map(|c| c.0.to_string()).collect();
    assert_eq!(
        flagged, ids,
        "every example rule has sentences it must flag"
    );
    assert_eq!(
        benign, ids,
        "every example rule has benign sentences it must not flag"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vigil.toml"), "[lists]\n").unwrap();
    let lists = common::root().join("examples/lists");
    let texts: Vec<String> = (EXAMPLE_FLAGGED.iter().map(|c| c.1))
        .chain(EXAMPLE_BENIGN.iter().map(|c| c.1))
        .map(str::to_string)
        .collect();
    let output = run(
        vigil(dir.path()).args([
            "scan",
            "--config",
            "vigil.toml",
            "--keywords",
            lists.join("sample-keywords.csv").to_str().unwrap(),
            "--keywords",
            lists.join("sample-rules.toml").to_str().unwrap(),
            "-",
        ]),
        &messages(&texts),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let mut flags = vec![None; texts.len()];
    for flag in json_lines(&output.stdout) {
        let i: usize = flag["message_id"].as_str().unwrap()[2..].parse().unwrap();
        flags[i] = Some(flag);
    }
    // A part's character span: where it first occurs in the text.
    let span = |text: &str, part: &str| {
        let start = text[..text.find(part).unwrap()].chars().count() as u64;
        (start, start + part.chars().count() as u64)
    };
    for ((_, text, expected), flag) in EXAMPLE_FLAGGED.iter().zip(&flags) {
        let flag = flag
            .as_ref()
            .unwrap_or_else(|| panic!("{text:?} not flagged"));
        let mut got = matches(flag);
        got.sort();
        let mut want: Vec<(String, Vec<(u64, u64)>)> = expected
            .iter()
            .map(|(rule, parts)| {
                let spans = parts.iter().map(|part| span(text, part)).collect();
                (rule.to_string(), spans)
            })
            .collect();
        want.sort();
        assert_eq!(got, want, "{text:?}");
    }
    for ((rule, text), flag) in EXAMPLE_BENIGN.iter().zip(&flags[EXAMPLE_FLAGGED.len()..]) {
        assert!(flag.is_none(), "{text:?} (near {rule}) flagged: {flag:?}");
    }
}

/// `vigil scan --config vigil.toml` in `dir` over `input` (messages `m-0` to `m-{count - 1}`):
/// each message's flag (valid against the schema), if any.
fn scan_with_config(dir: &Path, input: &[u8], count: usize) -> Vec<Option<Value>> {
    let output = run_ok(
        vigil(dir).args(["scan", "--config", "vigil.toml", "-"]),
        input,
    );
    let validator = schema("flag");
    let mut flagged = vec![None; count];
    for flag in json_lines(&output.stdout) {
        assert_valid(&validator, &flag);
        let i: usize = flag["message_id"].as_str().unwrap()[2..].parse().unwrap();
        flagged[i] = Some(flag);
    }
    flagged
}

#[test]
fn links_in_disguise_match_url_lists_by_page_folder_and_domain_with_their_spans() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("iwf-urls.txt"),
        "http://pages.example.com/gallery/p1.html\nfolder.example.org/pics/\nwhole.example.net\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("vigil.toml"),
        "[lists]\nurl_lists = [\"iwf-urls.txt\"]\n",
    )
    .unwrap();
    // (text, the written link, the expression that matched); None: nothing flagged.
    let cases: [(&str, Option<(&str, &str)>); 10] = [
        (
            "look hxxps://pages.example[.]com/gallery/p1.html ok",
            Some((
                "hxxps://pages.example[.]com/gallery/p1.html",
                "pages.example.com/gallery/p1.html",
            )),
        ),
        (
            "FOLDER (dot) example (dot) org/pics/2024/x.jpg",
            Some((
                "FOLDER (dot) example (dot) org/pics/2024/x.jpg",
                "folder.example.org/pics/",
            )),
        ),
        (
            "http://cdn.whole.example.net:8080/any?x#y.",
            Some((
                "http://cdn.whole.example.net:8080/any?x#y",
                "whole.example.net/",
            )),
        ),
        (
            "ｗｈｏｌｅ．ｅｘａｍｐｌｅ．ｎｅｔ",
            Some(("ｗｈｏｌｅ．ｅｘａｍｐｌｅ．ｎｅｔ", "whole.example.net/")),
        ),
        (
            "whole.exam\u{200b}ple.net/a",
            Some(("whole.exam\u{200b}ple.net/a", "whole.example.net/")),
        ),
        ("pages.example.com/gallery/p2.html", None),
        ("folder.example.org/other/", None),
        ("mail me at someone@whole.example.net", None),
        ("or at someone@mail.whole.example.net", None),
        ("the file whole.txt and e.g. Mr.Smith, version 1.2.3", None),
    ];
    let texts: Vec<String> = cases.iter().map(|(t, _)| t.to_string()).collect();
    let flagged = scan_with_config(dir.path(), &messages(&texts), texts.len());
    for (i, (text, expected)) in cases.iter().enumerate() {
        let got = flagged[i].as_ref().map(|flag| {
            let m = &flag["matches"][0];
            assert_eq!(m["detector"], "url", "{text}");
            let chars: Vec<char> = text.chars().collect();
            let span = &m["spans"][0];
            let (start, end) = (
                span["start"].as_u64().unwrap() as usize,
                span["end"].as_u64().unwrap() as usize,
            );
            (
                chars[start..end].iter().collect::<String>(),
                m["expression"].as_str().unwrap().to_string(),
            )
        });
        let expected = expected.map(|(w, e)| (w.to_string(), e.to_string()));
        assert_eq!(got, expected, "{text}");
    }
}

#[test]
fn links_in_attachment_file_names_match_with_spans_in_the_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("iwf-urls.txt"), "whole.example.net\n").unwrap();
    std::fs::write(
        dir.path().join("vigil.toml"),
        "[lists]\nurl_lists = [\"iwf-urls.txt\"]\n",
    )
    .unwrap();
    // (text, file names); the name that matches, if any.
    let attachment = |id: &str, name: &str| {
        json!({"attachment_id": id, "media_type": "application/pdf", "data": "aGk=",
               "file_name": name})
    };
    let message = |i: usize, text: Option<&str>, attachments: Vec<Value>| {
        let mut m = json!({
            "message_id": format!("m-{i}"), "conversation_id": "c-1", "sender_id": "u-1",
            "recipient_ids": ["u-2"], "sent_at": "2026-11-26T07:00:00Z",
            "attachments": attachments,
        });
        if let Some(text) = text {
            m["text"] = json!(text);
        }
        m
    };
    let input: Vec<Value> = vec![
        message(
            0,
            Some("see the scan"),
            vec![
                attachment("a-1", "IMG 0001.PNG"),
                attachment("a-2", "cdn.whole.example.net_0412.pdf"),
            ],
        ),
        message(
            1,
            None,
            vec![attachment("a-1", "hxxp whole[.]example[.]net.pdf")],
        ),
        message(
            2,
            Some("whole.example.net"),
            vec![attachment("a-1", "report.pdf")],
        ),
        message(3, Some("no link"), vec![attachment("a-1", "notes.txt")]),
    ];
    let mut bytes = Vec::new();
    for m in &input {
        bytes.extend(serde_json::to_vec(m).unwrap());
        bytes.push(b'\n');
    }
    let flagged = scan_with_config(dir.path(), &bytes, input.len());
    // (attachment id or none for the text, what the span covers in its string)
    let expected: [Option<(Option<&str>, &str)>; 4] = [
        Some((Some("a-2"), "cdn.whole.example.net")),
        Some((Some("a-1"), "whole[.]example[.]net")),
        Some((None, "whole.example.net")),
        None,
    ];
    for (i, want) in expected.iter().enumerate() {
        let got = flagged[i].as_ref().map(|flag| {
            let matches = flag["matches"].as_array().unwrap();
            assert_eq!(matches.len(), 1, "{flag}");
            let m = &matches[0];
            assert_eq!(m["detector"], "url");
            assert_eq!(m["expression"], "whole.example.net/");
            let attachment_id = m["attachment_id"].as_str();
            let source = match attachment_id {
                Some(id) => input[i]["attachments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|a| a["attachment_id"] == id)
                    .unwrap()["file_name"]
                    .as_str()
                    .unwrap(),
                None => input[i]["text"].as_str().unwrap(),
            };
            let chars: Vec<char> = source.chars().collect();
            let span = &m["spans"][0];
            let (start, end) = (
                span["start"].as_u64().unwrap() as usize,
                span["end"].as_u64().unwrap() as usize,
            );
            (
                attachment_id.map(str::to_string),
                chars[start..end].iter().collect::<String>(),
            )
        });
        let want = want.map(|(a, w)| (a.map(str::to_string), w.to_string()));
        assert_eq!(got, want, "message {i}");
    }
}

/// The URL evaluation (scripts/url-eval.py: list links planted in fortunes sentences under
/// every disguise, and benign sentences with ordinary URLs, file names, abbreviations,
/// numbers and e-mail addresses at listed domains) meets its goals through this build: recall
/// with the exact span >= 0.99 per disguise, benign sentences flagged <= 0.1 %.
#[test]
fn the_url_evaluation_meets_its_recall_and_false_positive_goals() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let output = std::process::Command::new("python3")
        .arg(common::root().join("scripts/url-eval.py"))
        .args(["--vigil", env!("CARGO_BIN_EXE_vigil"), "--entries", "300"])
        .args([
            "--max-benign",
            "8000",
            "--generated-benign",
            "2000",
            "--assert",
            "--json",
        ])
        .arg(&summary)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(
        summary["recall"].as_object().unwrap().len(),
        20,
        "{summary}"
    );
    assert!(summary["benign"].as_u64().unwrap() >= 2000, "{summary}");
}

#[test]
fn a_short_link_is_evidence_beside_a_match_and_a_rule_of_its_own_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kw.csv"), KEYWORDS).unwrap();
    std::fs::write(dir.path().join("urls.txt"), "listed.example.com\n").unwrap();
    let texts: Vec<String> = [
        "keep this a secret, see https://bit.ly/3xYz",
        "just this: t.co/abc",
        "nothing to see",
    ]
    .map(String::from)
    .to_vec();
    for (rule, expected) in [
        ("false", [Some(vec!["secret", "bit.ly"]), None, None]),
        (
            "true",
            [Some(vec!["secret", "bit.ly"]), Some(vec!["t.co"]), None],
        ),
    ] {
        std::fs::write(
            dir.path().join("vigil.toml"),
            format!(
                "[lists]\nkeyword_lists = [\"kw.csv\"]\nurl_lists = [\"urls.txt\"]\n\
                 [urls]\nshort_link_rule = {rule}\n"
            ),
        )
        .unwrap();
        let output = run(
            vigil(dir.path()).args(["scan", "--config", "vigil.toml", "-"]),
            &messages(&texts),
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut got = [None, None, None];
        for flag in json_lines(&output.stdout) {
            assert_valid(&schema("flag"), &flag);
            let i: usize = flag["message_id"].as_str().unwrap()[2..].parse().unwrap();
            let mut rules: Vec<&str> = flag["matches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["rule_id"].as_str().unwrap())
                .collect();
            rules.sort_unstable_by_key(|r| *r == "bit.ly");
            for m in flag["matches"].as_array().unwrap() {
                if m["category"] == "unresolved_short_link" {
                    assert_eq!(
                        (m["detector"].as_str(), m["severity"].as_str()),
                        (Some("url"), Some("low"))
                    );
                }
            }
            got[i] = Some(rules.into_iter().map(str::to_string).collect::<Vec<_>>());
        }
        let expected =
            expected.map(|e| e.map(|v| v.into_iter().map(str::to_string).collect::<Vec<_>>()));
        assert_eq!(got, expected, "short_link_rule = {rule}");
    }
}
