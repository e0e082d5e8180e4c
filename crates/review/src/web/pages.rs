//! The pages, rendered on the server with `maud` (every interpolation is HTML-escaped).

use std::collections::BTreeSet;

use axum::http::header;
use axum::response::IntoResponse;
use maud::{DOCTYPE, Markup, html};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vigil_core::{Match, MatchSubject};

use super::exposure::View;
use super::signed::Signed;
use crate::access::{AccessRow, EntryPrecision, Precision};
use crate::accounts::Role;
use crate::contact::{Timeline, matched_at};
use crate::queue::{
    Filter, FlagDetail, FlagState, ItemSummary, QueueCount, VideoSummary, sender_pseudonym,
};
use crate::store::RejectedRow;

// The wellness rules come last, so that they win over the defaults they adjust.
const STYLESHEET: &str = concat!(include_str!("console.css"), include_str!("wellness.css"));

/// `/static/console.css`.
pub(crate) async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
}

pub(super) fn when(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// How long before (or after) `now` `t` is, as people say it: `just now`, `4 min ago`,
/// `3 h ago`, `12 days ago`, `in 90 days`; a year or more away, the date.
fn ago(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (now - t).whole_seconds();
    let ahead = secs < 0;
    let secs = secs.unsigned_abs();
    let amount = match secs {
        0..60 => return "just now".into(),
        60..3_600 => format!("{} min", secs / 60),
        3_600..86_400 => format!("{} h", secs / 3_600),
        86_400..31_536_000 => {
            let days = secs / 86_400;
            format!("{days} day{}", if days == 1 { "" } else { "s" })
        }
        _ => return t.date().to_string(),
    };
    if ahead {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// `t` as its age, with the exact time (RFC 3339) for machines and on hover.
pub(super) fn stamp(t: OffsetDateTime) -> Markup {
    let exact = when(t);
    html! { time datetime=(exact) title=(exact) { (ago(t, OffsetDateTime::now_utc())) } }
}

pub(super) fn layout(signed: Option<&Signed>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · vigil review" }
                link rel="stylesheet" href="/static/console.css";
            }
            body {
                header {
                    span.brand { "vigil review" }
                    @if let Some(s) = signed {
                        nav {
                            @if s.who.role.sees_content() { a href="/queue" { "Queue" } }
                            @if s.who.role == Role::Lead { a href="/cases" { "Cases" } }
                            @if s.who.role.audits() { a href="/audit" { "Audit" } a href="/holds" { "Holds" } }
                            @if s.who.role == Role::Lead { a href="/team" { "Team" } }
                        }
                        span.who { (s.who.pseudonym) " (" (s.who.role.as_str()) ")" }
                        @if s.who.role.sees_content() { a href="/account/wellness" { "Viewing" } }
                        a href="/account/password" { "Password" }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// A one-line message a page shows after a redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    /// What was asked for was done.
    Done(&'static str),
    /// It was not done, and why.
    Refused(&'static str),
}

pub(super) fn notice_line(notice: Option<Notice>) -> Markup {
    html! {
        @match notice {
            Some(Notice::Done(text)) => p.notice role="status" { (text) },
            Some(Notice::Refused(text)) => p.warning role="alert" { (text) },
            None => {}
        }
    }
}

/// A page that says why something was refused or is not possible, with a way back
/// (`(href, label)`).
pub(crate) fn message_page(
    signed: Option<&Signed>,
    title: &str,
    text: &str,
    back: Option<(&str, &str)>,
) -> Markup {
    layout(
        signed,
        title,
        html! {
            p.error role="alert" { (text) }
            @if let Some((href, label)) = back { p { a.back href=(href) { (label) } } }
        },
    )
}

pub(crate) fn login_page(csrf: &str, error: Option<&str>, username: &str) -> Markup {
    layout(
        None,
        "Sign in",
        html! {
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form.login method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                label { "User name" input name="username" autocomplete="username" value=(username) required; }
                label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// Asks for the password again before a reveal, then goes on to `next`.
pub(crate) fn reauth_page(signed: &Signed, next: &str, error: Option<&str>) -> Markup {
    layout(
        Some(signed),
        "Confirm it is you",
        html! {
            @if let Some(error) = error { p.error role="alert" { (error) } }
            p { "Revealing an image needs your password again when you last gave it a while ago." }
            form.login method="post" action="/reauth" {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="next" value=(next);
                label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "Confirm" }
            }
            p { a.back href=(next) { "Back" } }
        },
    )
}

/// Changing one's own password.
pub(crate) fn password_page(signed: &Signed, error: Option<&str>) -> Markup {
    layout(
        Some(signed),
        "Change your password",
        html! {
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form.login method="post" action="/account/password" {
                input type="hidden" name="csrf" value=(signed.csrf);
                label { "Current password" input type="password" name="current" autocomplete="current-password" required; }
                label { "New password (12 characters or more)" input type="password" name="new" autocomplete="new-password" minlength="12" required; }
                label { "New password again" input type="password" name="repeat" autocomplete="new-password" minlength="12" required; }
                button type="submit" { "Change password" }
            }
            p { "Every session of your account ends; sign in again with the new password." }
        },
    )
}

fn filter_query(filter: &Filter) -> Markup {
    html! {
        @if let Some(q) = &filter.queue { input type="hidden" name="queue" value=(q); }
        @if let Some(c) = &filter.category { input type="hidden" name="category" value=(c); }
    }
}

/// How the queue's items are shown: which filter, and whether grouped by sender.
pub(crate) struct QueueView<'a> {
    pub(crate) filter: &'a Filter,
    pub(crate) by_sender: bool,
}

/// `/queue` with `filter`'s parameters and, when asked, `by=sender`.
fn queue_url(filter: &Filter, by_sender: bool) -> String {
    let mut params = Vec::new();
    if let Some(q) = &filter.queue {
        params.push(format!("queue={}", urlencode(q)));
    }
    if let Some(c) = &filter.category {
        params.push(format!("category={}", urlencode(c)));
    }
    if by_sender {
        params.push("by=sender".to_string());
    }
    if params.is_empty() {
        "/queue".to_string()
    } else {
        format!("/queue?{}", params.join("&"))
    }
}

pub(crate) fn queue_page(
    signed: &Signed,
    counts: &[QueueCount],
    items: &[ItemSummary],
    view: &QueueView<'_>,
    notice: Option<Notice>,
    wellness: &View,
) -> Markup {
    let lead = signed.who.role == Role::Lead;
    let filter = view.filter;
    layout(
        Some(signed),
        "Queue",
        html! {
            (notice_line(notice))
            (wellness.exposure_line())
            section {
                h2 { "Waiting, by queue and category" }
                p.hint { "A queue's \"all\" row counts each item once; an item in two categories is in both category rows." }
                table.counts {
                    thead { tr { th { "queue" } th { "category" } th { "open" } @if lead { th { "escalated" } } th { "oldest flagged" } th {} } }
                    tbody {
                        @for c in counts {
                            tr {
                                td { (c.queue) }
                                @match &c.category {
                                    Some(category) => td { (category) },
                                    None => td { strong { "all" } },
                                }
                                td { (c.open) }
                                @if lead { td { (c.escalated) } }
                                td { (stamp(c.oldest)) }
                                td {
                                    @match &c.category {
                                        Some(category) => a href={ "/queue?queue=" (urlencode(&c.queue)) "&category=" (urlencode(category)) } { "show" },
                                        None => a href={ "/queue?queue=" (urlencode(&c.queue)) } { "show" },
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section {
                h2 {
                    "Items"
                    @if let Some(q) = &filter.queue { " in " (q) }
                    @if let Some(c) = &filter.category { ", category " (c) }
                }
                p {
                    @if filter.queue.is_some() || filter.category.is_some() { a href="/queue" { "all queues" } " · " }
                    @if view.by_sender { a #by-severity href=(queue_url(filter, false)) { "list by severity" } }
                    @else { a #by-sender href=(queue_url(filter, true)) { "group by sender (cases)" } }
                }
                form method="post" action="/queue/claim-next" {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    (filter_query(filter))
                    button #claim-next type="submit" accesskey="n" { "Claim next item" }
                }
                table.items {
                    thead { tr { th { "severity" } th { "categories" } th { "sender" } th { "matched text" } th { "queue" } th { "flagged" } th { "matches" } th { "status" } th { "claimed by" } th { "select" } th {} } }
                    tbody {
                        @for (i, item) in items.iter().enumerate() {
                            @if view.by_sender && (i == 0 || items[i - 1].sender != item.sender) {
                                @let n = items.iter().filter(|other| other.sender == item.sender).count();
                                tr.sender-group { td colspan="11" {
                                    "Sender " code { (item.sender) } " — " (n) @if n == 1 { " item" } @else { " items" }
                                } }
                            }
                            tr class={ "sev-" (item.severity) } {
                                td { (item.severity) }
                                td { (item.categories.join(", ")) }
                                td { code { (item.sender) } }
                                td.preview { (item.preview.as_deref().unwrap_or("—")) }
                                td { (item.queue) }
                                td { (stamp(item.flagged_at)) }
                                td { (item.matches) }
                                td { (item.status) }
                                td { (item.claimed_by.as_deref().unwrap_or("")) }
                                td { input type="checkbox" name="flag" value=(item.flag_id) form="decide-selected" aria-label="select"; }
                                td {
                                    form method="post" action={ "/flags/" (item.flag_id) "/claim" } {
                                        input type="hidden" name="csrf" value=(signed.csrf);
                                        button type="submit" { "Claim" }
                                    }
                                }
                            }
                        }
                    }
                }
                @if items.is_empty() { p { "Nothing waiting." } } @else {
                    form #decide-selected.decide-selected method="post" action="/queue/decide" {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        p { "One decision on the items ticked above, when they share the same matches (each is recorded and logged; all or none):" }
                        label { input type="radio" name="decision" value="confirm" required; " Confirm" }
                        label { input type="radio" name="decision" value="false_positive"; " False positive" }
                        label { input type="radio" name="decision" value="escalate"; " Escalate" }
                        label { "Note " textarea name="note" maxlength="2000" {} }
                        button type="submit" { "Decide the selected items" }
                    }
                }
            }
        },
    )
}

/// `value` percent-encoded for a URL's query or path (unreserved characters kept).
pub(crate) fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The matches' text spans (characters, end exclusive), sorted, overlapping ones merged: the
/// marks of the message text.
fn merged_spans(matches: &[Match]) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> = matches
        .iter()
        .filter_map(|m| match &m.subject {
            MatchSubject::Text {
                spans,
                attachment_id: None,
                ..
            } => Some(spans.iter().map(|s| (s.start, s.end))),
            MatchSubject::Text { .. } | MatchSubject::Attachment { .. } => None,
        })
        .flatten()
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// The id of the mark holding character `start` (1-based in the id, as shown to people).
fn mark_id(merged: &[(usize, usize)], start: usize) -> Option<String> {
    merged
        .iter()
        .find(|&&(s, e)| s <= start && start < e.max(s + 1))
        .map(|&(s, _)| format!("match-{}", s + 1))
}

/// Characters `start..end` (0-based, end exclusive) as people count them: 1-based and
/// inclusive, `7–28`, or `7` for one character.
fn span_label(start: usize, end: usize) -> String {
    if end <= start + 1 {
        format!("{}", start + 1)
    } else {
        format!("{}–{}", start + 1, end)
    }
}

/// The text with every span of `merged` marked, each mark with an id evidence links to.
fn highlighted(text: &str, merged: &[(usize, usize)]) -> Markup {
    // Spans count characters; slice at the byte offsets of those characters.
    let offsets: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let at = |chars: usize| offsets[chars.min(offsets.len() - 1)];
    let mut pieces: Vec<(Option<usize>, &str)> = Vec::new();
    let mut cursor = 0;
    for &(first, last) in merged {
        let (start, end) = (at(first), at(last));
        if start < cursor || end <= start {
            continue;
        }
        pieces.push((None, &text[cursor..start]));
        pieces.push((Some(first + 1), &text[start..end]));
        cursor = end;
    }
    pieces.push((None, &text[cursor..]));
    html! {
        @for (mark, piece) in pieces {
            @if let Some(n) = mark { mark id={ "match-" (n) } { (visible(piece)) } } @else { (visible(piece)) }
        }
    }
}

/// A character the page shows as a mark instead of itself: control characters (NUL among
/// them; line breaks and tabs excepted) and invisible format characters (zero-width,
/// direction overrides, which could otherwise reorder what a reviewer reads).
fn hidden(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\t'))
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}')
}

/// `text` with every [`hidden`] character shown as a mark naming its code point: C0
/// controls as their Unicode control pictures (U+0000 as ␀), the others as `U+XXXX`.
fn visible(text: &str) -> Markup {
    let mut parts: Vec<(bool, &str)> = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices().filter(|(_, c)| hidden(*c)) {
        parts.push((false, &text[start..i]));
        parts.push((true, &text[i..i + c.len_utf8()]));
        start = i + c.len_utf8();
    }
    parts.push((false, &text[start..]));
    html! {
        @for (is_mark, part) in parts {
            @if is_mark {
                @let c = part.chars().next().unwrap_or_default();
                @let code = format!("U+{:04X}", u32::from(c));
                span.ctl title=(code) {
                    @match char::from_u32(0x2400 + u32::from(c)).filter(|_| u32::from(c) < 0x20) {
                        Some(picture) => (picture),
                        None => (code),
                    }
                }
            } @else { (part) }
        }
    }
}

/// A time in a video, `m:ss.mmm`.
fn clock(ms: u64) -> String {
    format!("{}:{:02}.{:03}", ms / 60_000, ms / 1000 % 60, ms % 1000)
}

fn evidence(m: &Match, merged: &[(usize, usize)]) -> Markup {
    match &m.subject {
        MatchSubject::Attachment {
            attachment_id,
            entry_id,
            distance,
            quality,
            variant,
            frame_ms,
            video,
        } => html! {
            "attachment " code { (attachment_id) } ", entry " code { (entry_id) }
            ", distance " (distance)
            @if let Some(q) = quality { ", quality " (q) }
            @if let Some(v) = variant { ", as " (v) }
            @if let Some(ms) = frame_ms { ", frame at " (clock(*ms)) }
            @if let Some(v) = video {
                ", " (format!("{:.1}", v.query_match_percent())) " % of the video's "
                (v.query_frames) " frames matched (" (format!("{:.1}", v.compared_match_percent()))
                " % of the listed video's " (v.compared_frames) "), at "
                (v.segments.iter().map(|s| format!("{}–{}", clock(s.start_ms), clock(s.end_ms)))
                    .collect::<Vec<_>>().join(", "))
            }
        },
        MatchSubject::Text {
            rule_id,
            spans,
            expression,
            attachment_id,
        } => html! {
            @if let Some(expression) = expression {
                "entry " code { (rule_id) } " (the link matched as " code { (expression) } "), "
            } @else {
                "rule " code { (rule_id) } ", "
            }
            @if let Some(attachment_id) = attachment_id {
                // The spans are in the file name (shown with the attachment), not the text.
                "in the file name of attachment " code { (attachment_id) } ", characters "
                (spans.iter().map(|s| span_label(s.start, s.end)).collect::<Vec<_>>().join(", "))
            } @else {
                "characters "
                @for (i, s) in spans.iter().enumerate() {
                    @if i > 0 { ", " }
                    @match mark_id(merged, s.start) {
                        Some(id) => a.jump href={ "#" (id) } { (span_label(s.start, s.end)) },
                        None => (span_label(s.start, s.end)),
                    }
                }
            }
        },
    }
}

/// What this session revealed of a flag: images by attachment id, video frames by
/// attachment id and frame time.
pub(crate) struct Revealed<'a> {
    pub(crate) images: &'a BTreeSet<String>,
    pub(crate) frames: &'a BTreeSet<(String, u64)>,
}

/// The width of a timeline's drawing, in its own units.
const TIMELINE_WIDTH: f64 = 1000.0;

/// A video attachment: where it matched on a timeline, then its contact sheet, each frame
/// blurred until revealed, labelled with its time and what matched there.
fn video_sheet(
    signed: &Signed,
    flag: &FlagDetail,
    video: &VideoSummary,
    holds: bool,
    revealed: &BTreeSet<(String, u64)>,
    view: &View,
) -> Markup {
    let id = &video.attachment_id;
    let shown: Vec<u64> = video.frames.iter().map(|f| f.frame_ms).collect();
    let line = Timeline::of(&flag.matches, id, video.duration_ms, &shown);
    let x = |ms: u64| line.x(ms, TIMELINE_WIDTH);
    html! {
        section.video {
            h3 { "Video " code { (id) } }
            figure.timeline {
                svg.timeline viewBox="0 0 1000 30" preserveAspectRatio="none" role="img"
                    aria-label={ "where attachment " (id) " matched" } {
                    rect.track x="0" y="8" width="1000" height="14" {}
                    @for (start, end) in &line.segments {
                        rect.segment x=(x(*start)) y="8" width=((x(*end) - x(*start)).max(3.0)) height="14" {
                            title { (clock(*start)) "–" (clock(*end)) " matched (vPDQ)" }
                        }
                    }
                    @for ms in &line.frames {
                        rect.matched-frame x=((x(*ms) - 1.5).max(0.0)) y="2" width="3" height="26" {
                            title { (clock(*ms)) ": a frame matched an image list" }
                        }
                    }
                    @for ms in &shown {
                        rect.shown x=((x(*ms) - 1.0).max(0.0)) y="22" width="2" height="8" {}
                    }
                }
                figcaption {
                    "0:00.000 – " (clock(line.span_ms))
                    @if video.duration_ms.is_none() { " (duration unknown: the latest time matched)" }
                    ". Matched: "
                    @if line.segments.is_empty() && line.frames.is_empty() { "—" }
                    (line.segments.iter().map(|(s, e)| format!("{}–{}", clock(*s), clock(*e)))
                        .chain(line.frames.iter().map(|ms| format!("frame {}", clock(*ms))))
                        .collect::<Vec<_>>().join(", "))
                }
            }
            @if let Some(note) = &video.note { p.no-preview { (note) } }
            div.sheet {
                @for frame in &video.frames {
                    @let base = format!("/flags/{}/videos/{}/frames/{}", flag.flag_id, urlencode(id), frame.frame_ms);
                    figure.frame id={ "frame-" (frame.frame_ms) } {
                        @if revealed.contains(&(id.clone(), frame.frame_ms)) {
                            img.revealed-frame src=(base) alt={ "frame at " (clock(frame.frame_ms)) };
                        } @else {
                            img.blurred-frame src={ (base) "/blurred" } alt={ "frame at " (clock(frame.frame_ms)) ", blurred" };
                        }
                        figcaption {
                            strong { (clock(frame.frame_ms)) }
                            @if !frame.has_preview { " " span.no-preview { "(no blurred preview)" } }
                            ul.matched-here {
                                @for what in matched_at(&flag.matches, id, frame.time_ms) { li { (what) } }
                            }
                            @if revealed.contains(&(id.clone(), frame.frame_ms)) {
                                form.reblur method="post" action={ (base) "/reblur" } {
                                    input type="hidden" name="csrf" value=(signed.csrf);
                                    button.reblur-frame type="submit" { "Blur again" }
                                }
                            } @else if holds && view.at_cap() {
                                span.at-cap { "Daily reveal limit reached" }
                            } @else if holds {
                                form method="post" action={ (base) "/reveal" } {
                                    input type="hidden" name="csrf" value=(signed.csrf);
                                    button.reveal-frame type="submit" { "Reveal frame (logged)" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Sections of a flag page that other modules render: its holds, and (for leads, with
/// containment on) its list entries.
pub(crate) struct FlagSections {
    pub(crate) preservation: Markup,
    pub(crate) entries: Option<Markup>,
}

pub(crate) fn flag_page(
    signed: &Signed,
    flag: &FlagDetail,
    holds: bool,
    revealed: &Revealed<'_>,
    sections: FlagSections,
    notice: Option<Notice>,
    view: &View,
) -> Markup {
    let FlagSections {
        preservation,
        entries,
    } = sections;
    let role = signed.who.role;
    let decidable =
        holds && (flag.status == "open" || (flag.status == "escalated" && role == Role::Lead));
    // With several matches, each can be decided on its own (a misfiring rule beside a
    // genuine match): outcome radios in the table, tied to the decision form.
    let per_match = decidable && flag.matches.len() > 1;
    let spread = |m: &vigil_core::Match| {
        flag.entries
            .iter()
            .find(|e| e.list == m.list && e.entry == m.entry())
    };
    let merged = merged_spans(&flag.matches);
    layout(
        Some(signed),
        "Flag",
        html! {
            (notice_line(notice))
            dl.facts {
                dt { "flag" } dd { code { (flag.flag_id) } }
                dt { "severity" } dd { (flag.severity) }
                dt { "categories" } dd { (flag.categories.join(", ")) }
                dt { "queue" } dd { (flag.queue) }
                dt { "status" } dd #status { (flag.status) }
                dt { "message" } dd { code { (flag.message_id) } " in conversation " code { (flag.conversation_id) } }
                dt { "sender" } dd #sender {
                    code { (sender_pseudonym(&flag.sender_id)) }
                    @if role == Role::Lead { " — " a href={ "/case?sender=" (urlencode(&flag.sender_id)) } { "case of " code { (flag.sender_id) } } }
                }
                dt { "sent" } dd { (stamp(flag.sent_at)) }
                dt { "flagged" } dd { (stamp(flag.flagged_at)) }
            }
            h2 { "Why it was flagged" }
            table.matches {
                thead { tr {
                    th { "detector" } th { "list" } th { "version" } th { "category" } th { "severity" } th { "evidence" }
                    @if !flag.entries.is_empty() { th { "spread" } }
                    @if per_match { th { "this match" } }
                } }
                tbody {
                    @for (i, m) in flag.matches.iter().enumerate() {
                        tr {
                            td { (m.detector.as_str()) } td { (m.list) } td { (m.list_version) }
                            td { (m.category) } td { (m.severity.as_str()) } td { (evidence(m, &merged)) }
                            @if !flag.entries.is_empty() {
                                td.spread { @if let Some(e) = spread(m) {
                                    (e.conversations) " conversation(s) in a day"
                                    @if let Some(q) = e.quarantine { br; strong.quarantine { "quarantined: " (q.as_str()) } }
                                } }
                            }
                            @if per_match {
                                td.outcome {
                                    label { input type="radio" form="decide-form" name={ "match_" (i) } value="confirmed"; " confirmed" }
                                    " "
                                    label { input type="radio" form="decide-form" name={ "match_" (i) } value="false_positive"; " false positive" }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Message" }
            @match flag.content_state.as_str() {
                "stored" => {
                    @if let Some(text) = &flag.text {
                        blockquote #text { (highlighted(text, &merged)) }
                    } @else { p { "(no text)" } }
                    @if !flag.images.is_empty() || !flag.videos.is_empty() { (view.exposure_line()) }
                    div class=(view.media_classes()) {
                        @for image in &flag.images {
                            @let (attachment_id, media_type) = (&image.attachment_id, &image.media_type);
                            figure.image {
                                @let base = format!("/flags/{}/images/{}", flag.flag_id, attachment_id);
                                @if revealed.images.contains(attachment_id) {
                                    img.revealed src=(base) alt={ "attachment " (attachment_id) };
                                    figcaption {
                                        (attachment_id) " (" (media_type) "), revealed"
                                        form.reblur method="post" action={ (base) "/reblur" } {
                                            input type="hidden" name="csrf" value=(signed.csrf);
                                            button.reblur type="submit" { "Blur again" }
                                        }
                                    }
                                } @else {
                                    img.blurred src={ (base) "/blurred" } alt={ "attachment " (attachment_id) ", blurred" };
                                    figcaption {
                                        (attachment_id) " (" (media_type) "), blurred"
                                        @if let Some(why) = &image.no_preview { br; span.no-preview { (why) } }
                                        @if holds && view.at_cap() {
                                            br; span.at-cap { "Daily reveal limit reached" }
                                        } @else if holds {
                                            form method="post" action={ (base) "/reveal" } {
                                                input type="hidden" name="csrf" value=(signed.csrf);
                                                button.reveal type="submit" { "Reveal image (logged)" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        @for video in &flag.videos {
                            (video_sheet(signed, flag, video, holds, revealed.frames, view))
                        }
                    }
                }
                "purged" => p { "The content was deleted after the retention period." }
                _ => p { "The content is unavailable: " (flag.content_note.as_deref().unwrap_or("not fetched")) }
            }
            (preservation)
            @if let Some(entries) = entries { (entries) }
            @if !flag.decisions.is_empty() {
                h2 { "Decisions" }
                ul.decisions {
                    @for d in &flag.decisions {
                        li { (stamp(d.decided_at)) ": " strong { (d.decision) } " by " (d.reviewer)
                            @if !d.note.is_empty() { " — " (d.note) } }
                    }
                }
            }
            @if decidable {
                h2 { "Decide" }
                form.decide #decide-form method="post" action={ "/flags/" (flag.flag_id) "/decision" } {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    label { input type="radio" name="decision" value="confirm" required accesskey="c"; " Confirm: the match is what the list says" @if per_match { " (all matches)" } }
                    label { input type="radio" name="decision" value="false_positive" accesskey="f"; " False positive" @if per_match { " (all matches)" } }
                    @if per_match {
                        label { input #per-match type="radio" name="decision" value="per_match"; " Each match as marked in the table above" }
                    }
                    @if flag.status == "open" {
                        label { input type="radio" name="decision" value="escalate" accesskey="e"; " Escalate to a lead" }
                    }
                    label { "Note (stays in the console)" textarea name="note" maxlength="2000" {} }
                    button #decide-next type="submit" name="then" value="next" { "Record decision and open the next item" }
                    " "
                    button #decide-queue type="submit" name="then" value="queue" { "Record decision and go back to the queue" }
                }
                form method="post" action={ "/flags/" (flag.flag_id) "/release" } {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    button type="submit" { "Release without deciding" }
                }
            } @else if flag.status != "decided" {
                form method="post" action={ "/flags/" (flag.flag_id) "/claim" } {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    button type="submit" { "Claim this item" }
                }
            }
        },
    )
}

/// What a reviewer who does not hold a flag sees of it: its state, never its content.
pub(crate) fn flag_state_page(signed: &Signed, flag_id: &str, at: &FlagState) -> Markup {
    let (title, text) = match (at.status.as_str(), &at.held, &at.last_decision) {
        ("decided", _, Some(d)) => (
            "Decided",
            format!(
                "This item was decided: {} by {} at {}.",
                d.decision,
                d.reviewer,
                when(d.decided_at)
            ),
        ),
        ("escalated", _, _) => (
            "Escalated",
            "This item was escalated; a lead decides it now.".to_string(),
        ),
        (_, Some((holder, until)), _) => (
            "Held by another reviewer",
            format!(
                "{holder} holds this item until {}. It returns to the queue if they release it or the claim expires. The attempt was logged.",
                when(*until)
            ),
        ),
        _ => (
            "Not claimed",
            "Nobody holds this item. Claim it to see its content.".to_string(),
        ),
    };
    layout(
        Some(signed),
        title,
        html! {
            @if at.held.is_some() && at.status == "open" {
                p.warning role="alert" { (text) }
            } @else {
                p.notice role="status" { (text) }
            }
            dl.facts { dt { "flag" } dd { code { (flag_id) } } dt { "status" } dd #status { (at.status) } }
            @if at.status == "open" && at.held.is_none() {
                form method="post" action={ "/flags/" (flag_id) "/claim" } {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    button type="submit" { "Claim this item" }
                }
            }
            p { a.back href="/queue" { "Back to the queue" } }
        },
    )
}

pub(crate) fn audit_page(
    signed: &Signed,
    precision: &[Precision],
    noisiest: &[EntryPrecision],
    rejected: &[RejectedRow],
    log: &[AccessRow],
) -> Markup {
    layout(
        Some(signed),
        "Audit",
        html! {
            h2 { "Precision by list version, category and detector" }
            table.precision {
                thead { tr { th { "list" } th { "version" } th { "category" } th { "detector" } th { "confirmed" } th { "false positive" } th { "escalated" } th { "precision" } } }
                tbody {
                    @for p in precision {
                        tr {
                            td { (p.list) } td { (p.list_version) } td { (p.category) } td { (p.detector) }
                            td { (p.confirmed) } td { (p.false_positive) } td { (p.escalated) }
                            td { @if let Some(v) = p.precision { (format!("{:.1} %", v * 100.0)) } @else { "—" } }
                        }
                    }
                }
            }
            h2 { "Entries and rules with the most false positives" }
            @if noisiest.is_empty() { p { "None yet." } } @else {
                table.noisiest {
                    thead { tr { th { "list" } th { "version" } th { "entry or rule" } th { "detector" } th { "false positive" } th { "confirmed" } } }
                    tbody {
                        @for e in noisiest {
                            tr {
                                td { (e.list) } td { (e.list_version) } td { code { (e.entry) } } td { (e.detector) }
                                td { (e.false_positive) } td { (e.confirmed) }
                            }
                        }
                    }
                }
            }
            h2 { "Review records not in the queue (latest 50)" }
            p { "Records of the review topics kept aside instead of queued: not a usable flag, or data the database refused. Nothing of a message is kept here; the record stays on its topic at the place given." }
            @if rejected.is_empty() { p { "None." } } @else {
                table.rejected {
                    thead { tr { th { "set aside" } th { "review topic" } th { "partition" } th { "offset" } th { "reason" } th { "detail" } } }
                    tbody {
                        @for r in rejected {
                            tr {
                                td { (when(r.stored_at)) } td { (r.queue) } td { (r.partition) } td { (r.offset) }
                                td { code { (r.reason) } } td { (r.detail) }
                            }
                        }
                    }
                }
            }
            h2 { "Access log (latest 200)" }
            @if signed.who.role == Role::Auditor {
                p { "Export: " a href="/audit/access-log.csv" { "CSV" } " · " a href="/audit/access-log.json" { "JSON" } }
            }
            table.access {
                thead { tr { th { "at" } th { "who" } th { "role" } th { "action" } th { "flag" } th { "image" } th { "detail" } th { "from" } } }
                tbody {
                    @for r in log {
                        tr {
                            td { (when(r.at)) } td { (r.actor) } td { (r.role) } td { (r.action) }
                            td { (r.flag_id.as_deref().unwrap_or("")) } td { (r.attachment_id.as_deref().unwrap_or("")) }
                            td { (r.detail) } td { (r.remote_addr) }
                        }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::keyword_match;

    #[test]
    fn spans_mark_characters_of_the_original_and_content_is_escaped() {
        type Case<'a> = (&'a str, &'a [(usize, usize)], &'a str);
        let cases: &[Case] = &[
            (
                "keep this a secret",
                &[(0, 4)],
                "<mark id=\"match-1\">keep</mark> this a secret",
            ),
            // Character offsets, not bytes: "é" is two bytes.
            (
                "héllo s.e.c.r.e.t",
                &[(6, 17)],
                "héllo <mark id=\"match-7\">s.e.c.r.e.t</mark>",
            ),
            // Overlapping spans of two rules become one mark.
            (
                "abcdef",
                &[(0, 3), (2, 5)],
                "<mark id=\"match-1\">abcde</mark>f",
            ),
            (
                "<b>hi</b>",
                &[(3, 5)],
                "&lt;b&gt;<mark id=\"match-4\">hi</mark>&lt;/b&gt;",
            ),
            // A span past the end is clipped, not a panic.
            ("short", &[(3, 99)], "sho<mark id=\"match-4\">rt</mark>"),
            // NUL and invisible characters are shown, and still count as one character.
            (
                "a\u{0}b secret",
                &[(4, 10)],
                "a<span class=\"ctl\" title=\"U+0000\">␀</span>b <mark id=\"match-5\">secret</mark>",
            ),
            (
                "s\u{200B}e\u{202E}x\ny",
                &[(0, 5)],
                "<mark id=\"match-1\">s<span class=\"ctl\" title=\"U+200B\">U+200B</span>e<span class=\"ctl\" title=\"U+202E\">U+202E</span>x</mark>\ny",
            ),
        ];
        for (text, spans, want) in cases {
            let got = highlighted(text, &merged_spans(&[keyword_match(spans)])).into_string();
            assert_eq!(&got, want, "{text}");
        }
    }

    #[test]
    fn ages_read_as_people_say_them() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let at = |secs: i64| now - time::Duration::seconds(secs);
        for (secs, want) in [
            (0, "just now"),
            (59, "just now"),
            (-30, "just now"),
            (60, "1 min ago"),
            (4 * 60 + 59, "4 min ago"),
            (3 * 3_600, "3 h ago"),
            (86_400, "1 day ago"),
            (12 * 86_400, "12 days ago"),
            (-90 * 86_400, "in 90 days"),
            (-3 * 3_600, "in 3 h"),
            (400 * 86_400, "2025-12-11"),
        ] {
            assert_eq!(ago(at(secs), now), want, "{secs} s");
        }
        let html = stamp(now).into_string();
        assert!(
            html.starts_with("<time datetime=\"2027-01-15T08:00:00Z\" title="),
            "{html}"
        );
    }

    #[test]
    fn spans_are_shown_one_based_and_inclusive_and_link_to_their_mark() {
        // "keep this a secret" at 0-based 45..63 is characters 46–63 to a person.
        assert_eq!(span_label(45, 63), "46–63");
        assert_eq!(span_label(0, 1), "1");
        assert_eq!(span_label(6, 6), "7");
        let merged = merged_spans(&[keyword_match(&[(0, 3), (2, 5), (9, 12)])]);
        assert_eq!(merged, [(0, 5), (9, 12)]);
        // A span inside a merged mark links to that mark.
        assert_eq!(mark_id(&merged, 2).as_deref(), Some("match-1"));
        assert_eq!(mark_id(&merged, 9).as_deref(), Some("match-10"));
        assert_eq!(mark_id(&merged, 6), None);
        let evidence = evidence(&keyword_match(&[(9, 12)]), &merged).into_string();
        assert!(
            evidence.contains("<a class=\"jump\" href=\"#match-10\">10–12</a>"),
            "{evidence}"
        );
    }

    #[test]
    fn a_link_in_a_file_name_names_the_attachment_and_marks_no_text() {
        let mut link = keyword_match(&[(0, 17)]);
        if let MatchSubject::Text {
            expression,
            attachment_id,
            ..
        } = &mut link.subject
        {
            *expression = Some("whole.example.net/".into());
            *attachment_id = Some("a-2".into());
        }
        let in_text = keyword_match(&[(9, 12)]);
        let merged = merged_spans(&[link.clone(), in_text]);
        assert_eq!(merged, [(9, 12)]);
        let html = evidence(&link, &merged).into_string();
        assert!(
            html.contains("in the file name of attachment <code>a-2</code>, characters 1–17"),
            "{html}"
        );
        assert!(!html.contains("jump"), "{html}");
    }
}
