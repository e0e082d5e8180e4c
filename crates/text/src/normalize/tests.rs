use proptest::prelude::*;

use super::*;

fn all(text: &str) -> String {
    Normalizer::new(Steps::ALL).normalize(text).text
}

#[test]
fn every_disguise_reads_as_the_plain_phrase() {
    // (disguised, what it normalises to under every step)
    let table = [
        ("keep this a secret", "kepthisasecret"),
        ("KEEP THIS A SECRET", "kepthisasecret"),
        ("k33p th1s 4 s3cr3t", "kepthisasecret"),
        ("s.e.c.r.e.t", "secret"),
        ("s e c r e t", "secret"),
        ("s-e-c-r-e-t", "secret"),
        ("s_e_c_r_e_t", "secret"),
        ("s*e*c*r*e*t", "secret"),
        ("s\u{200b}e\u{200c}c\u{200d}r\u{2060}e\u{feff}t", "secret"),
        ("s\u{ad}ecret", "secret"),
        ("ѕесrеt", "secret"),               // Cyrillic dze, ie, es, ie
        ("hοmе аlοnе", "homeaione"),        // Greek omicron, Cyrillic ie and a
        ("ｓｅｃｒｅｔ", "secret"),         // full width
        ("𝐬𝐞𝐜𝐫𝐞𝐭", "secret"),               // mathematical bold
        ("sécrèt", "secret"),               // precomposed accents
        ("se\u{301}cre\u{300}t", "secret"), // combining accents
        ("sssseeeecreeeettt", "secret"),
        ("$ecret", "secret"),
        ("h0me @l0ne", "homeaione"),
        ("home alone", "homeaione"),
        ("SNAPCHAT", "snapchat"),
        ("sn@pch@t", "snapchat"),
        ("STRAẞE", "strase"),
    ];
    for (disguised, want) in table {
        assert_eq!(all(disguised), want, "{disguised:?}");
    }
}

#[test]
fn steps_switch_off_one_by_one() {
    let text = "K33P  s.e.c.r.e.t ѕесrеt é\u{200b}";
    let table = [
        (Steps::NONE, text.to_string()),
        (
            Steps::ALL.without(Step::Leet),
            "k33psecretsecrete".to_string(),
        ),
        (
            Steps::ALL.without(Step::Separators),
            "k33p s.e.c.r.e.t secret e".replace("k33p", "kep"),
        ),
        (
            Steps::ALL.without(Step::Confusables),
            "kepsecretѕесrеte".to_string(),
        ),
        (
            Steps::ALL.without(Step::Collapse),
            "keepsecretsecrete".to_string(),
        ),
        (
            Steps::ALL.without(Step::Ignorables),
            "kepsecretsecrete\u{200b}".to_string(),
        ),
        (
            Steps::ALL.without(Step::Diacritics),
            "kepsecretsecreté".to_string(),
        ),
        (
            Steps::REGEX_DEFAULT,
            "k33p s.e.c.r.e.t ѕесrеt é".to_string(),
        ),
    ];
    for (steps, want) in table {
        let got = Normalizer::new(steps).normalize(text).text;
        assert_eq!(got, want, "{steps}");
    }
}

#[test]
fn leet_symbols_read_as_letters_only_inside_words() {
    let table = [
        ("hello!", "heio!"),
        ("h!m", "him"),
        ("pa$$", "pas"),
        ("$ 5", "s"),
        ("@nal", "anai"),
        ("me @ home", "meahome"),
        ("c++", "c++"),
        ("+here", "there"),
    ];
    for (text, want) in table {
        assert_eq!(all(text), want, "{text:?}");
    }
}

#[test]
fn spans_cover_the_original_characters() {
    let table = [
        // (original, needle in the normalised text, original char span)
        ("Ok.  KEEP this", "kepthis", (5, 14)),
        ("say s.e.c.r.e.t!", "secret", (4, 15)),
        ("so seeeecret", "secret", (3, 12)),
        ("xx secrettt yy", "secret", (3, 11)),
        ("ﬁne", "fine", (0, 3)), // one ligature char stands for two letters
        ("😀 ѕесrеt", "secret", (2, 8)),
        ("a\u{200b}b", "ab", (0, 3)),
    ];
    for (original, needle, (start, end)) in table {
        let n = Normalizer::new(Steps::ALL).normalize(original);
        let at = n
            .text
            .find(needle)
            .unwrap_or_else(|| panic!("{original:?} -> {:?}", n.text));
        assert_eq!(
            n.span(at, at + needle.len()),
            Span { start, end },
            "{original:?}"
        );
    }
}

#[test]
fn parse_names_steps_and_refuses_unknown_ones() {
    let table = [
        ("", Steps::ALL),
        ("all", Steps::ALL),
        ("none", Steps::NONE),
        (
            "nfkc+casefold",
            Steps::NONE.with(Step::Nfkc).with(Step::Casefold),
        ),
        (
            "casefold, leet",
            Steps::NONE.with(Step::Casefold).with(Step::Leet),
        ),
        (
            "all -leet -collapse",
            Steps::ALL.without(Step::Leet).without(Step::Collapse),
        ),
        ("-leet", Steps::ALL.without(Step::Leet)),
    ];
    for (value, want) in table {
        assert_eq!(Steps::parse(value, Steps::ALL), Ok(want), "{value:?}");
        assert_eq!(
            Steps::parse(&want.to_string(), Steps::NONE),
            Ok(want),
            "{want}"
        );
    }
    let err = Steps::parse("nfkc+leetspeak", Steps::ALL).unwrap_err();
    assert!(
        err.contains("`leetspeak`") && err.contains("known:"),
        "{err}"
    );
}

#[test]
fn whole_word_boundaries_follow_the_original_text() {
    let n = Normalizer::new(Steps::ALL);
    let chars = |s: &str| s.chars().collect::<Vec<char>>();
    // (text, inside, outside, boundary?)
    let table = [
        ("sex", 2, None, true),
        ("sextant", 2, Some(3), false),
        ("sex tape", 2, Some(3), true),
        ("s.e.x.y", 4, Some(5), false), // spelled-out "sexy"
        ("s.e.x toy", 4, Some(5), true),
        ("hello!", 4, Some(5), true),
        ("h!m", 0, Some(1), false),
        ("unsex", 2, Some(1), false),
        ("@nal", 1, Some(0), false),
    ];
    for (text, inside, outside, want) in table {
        assert_eq!(
            n.is_word_boundary(&chars(text), inside, outside),
            want,
            "{text:?} {inside}"
        );
    }
}

#[test]
fn hostile_input_stays_linear() {
    let zero_width = "\u{200b}".repeat(1 << 20);
    assert_eq!(all(&zero_width), "");
    let marks = format!("a{}", "\u{301}".repeat(100_000));
    assert_eq!(all(&marks), "a");
    let separators = ". - _ * ".repeat(100_000);
    assert_eq!(all(&separators), "");
    let stretched = "e".repeat(1 << 20);
    assert_eq!(all(&stretched), "e");
}

proptest! {
    #[test]
    fn spans_fall_on_original_char_boundaries(text in "\\PC{0,40}", steps in 0u16..512) {
        let steps = Steps(steps);
        let n = Normalizer::new(steps).normalize(&text);
        let count = text.chars().count();
        prop_assert_eq!(n.start.len(), n.text.len());
        for (at, _) in n.text.char_indices() {
            let end = at + n.text[at..].chars().next().unwrap().len_utf8();
            let span = n.span(at, end);
            prop_assert!(span.start < span.end && span.end <= count, "{:?} {:?}", text, span);
        }
        for window in n.start.windows(2) {
            prop_assert!(window[0] <= window[1]);
        }
    }
}

#[test]
fn word_starts_are_where_a_token_may_open() {
    // (text, normalised under every step, where a whole-word match may start)
    let table: [(&str, &str, &[u32]); 10] = [
        ("keep this", "kepthis", &[0, 3]),
        ("a add", "ad", &[0, 1]),
        ("ok keep", "okep", &[0, 1, 2]), // `k` is also the first of `keep`
        ("it's", "it's", &[0, 2, 3]),
        ("s.e.x.y", "sexy", &[0, 1, 2, 3]),
        ("h!m", "him", &[0]),
        ("3372.7", "et2t", &[0, 3]),
        ("kéép", "kep", &[0]),
        ("℃cb", "°cb", &[0, 2, 3]), // a non-letter that reads as letters separates words
        ("sex\u{200b}y", "sexy", &[0, 3]),
    ];
    for (text, normalized, starts) in table {
        let n = Normalizer::new(Steps::ALL).normalize(text);
        assert_eq!(n.text, normalized, "{text:?}");
        assert_eq!(n.word_starts(), starts, "{text:?}");
    }
}
