//! The fixed notices a redirect asks a page to show (`?notice=key`): never free text from the
//! query.

use serde::Deserialize;

use super::pages::Notice;

/// A page's `?notice=` parameter.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct NoticeQuery {
    pub(super) notice: Option<String>,
}

/// Fixed notices a redirect may ask a page to show (never free text from the query): what
/// went as asked, or what did not.
pub(super) fn notice(key: Option<&str>) -> Option<Notice> {
    use super::pages::Notice::{Done, Refused};
    Some(match key? {
        "decided" => Done("Decision recorded."),
        "decided-many" => Done("Decision recorded on every selected item."),
        "case-decided" => Done("Decision recorded on every undecided flag of the case."),
        "batch-bad-selection" => Refused("Select 1 to 200 items."),
        "batch-different-matches" => {
            Refused("The selected items do not share the same matches; decide them one by one.")
        }
        "batch-unavailable" => Refused(
            "One of the items is held by someone else or not yours to decide; nothing was recorded.",
        ),
        "released" => Done("Item released."),
        "empty" => Refused("Nothing to claim with this filter."),
        "empty-text-only" => Refused(
            "You reached today's reveal limit, so only items without images or video frames are given to you, and none is waiting.",
        ),
        "reveal-cap" => Refused(
            "You reached today's reveal limit: nothing more is revealed for you today. The refusal was logged.",
        ),
        "settings-saved" => Done("Viewing settings saved."),
        "taken" => Refused("Someone else holds this item, or it was decided."),
        "not-holder" => Refused("Your claim on this item expired or was taken; claim it again."),
        "not-decidable" => Refused("This item is not in a state your role can decide."),
        "note-too-long" => Refused("The note is too long (2,000 characters at most)."),
        "entry-disabled" => Done(
            "Entry disabled: every scanner stops flagging it once it reads the change (seconds).",
        ),
        "entry-reinstated" => {
            Done("Entry reinstated: earlier decisions and sightings no longer count against it.")
        }
        "entry-bad-reason" => Refused("Say why, in one line of at most 500 characters."),
        "entry-bad-days" => Refused("A disabling lasts 1 to 3,650 days, or until enabled."),
        "entry-bad-action" => Refused("Disable or reinstate: nothing else."),
        "entry-state-unavailable" => Refused(
            "The entry state could not be written (Kafka unreachable?); nothing changed. Try again.",
        ),
        "outcomes-incomplete" => {
            Refused("To decide match by match, mark every match confirmed or false positive.")
        }
        "note-invalid" => Refused(
            "The note contains control characters (such as NUL) that a note cannot hold; remove them.",
        ),
        "held" => Done("Hold placed: the content is kept past the retention period."),
        "hold-released" => Done("Hold released."),
        "hold-no-reason" => Refused("A hold needs a reason."),
        "hold-bad-text" => {
            Refused("The reason and reference must be one line of at most 500 characters.")
        }
        "hold-bad-days" => Refused("A hold lasts 1 to 3,650 days."),
        "hold-ended" => Refused("That hold has ended already."),
        "report-prepared" => Done("Report prepared: read it, then submit it."),
        "report-submitted" => Done("Report submitted: NCMEC has it."),
        "report-finished-already" => Refused("This case was reported already; nothing was sent."),
        "report-busy" => Refused("Someone is submitting this report; try again in a few minutes."),
        "report-failed" => Refused(
            "The submission failed and the report was retracted at NCMEC (see the last error); submit it again.",
        ),
        "report-nothing" => Refused("This account has no confirmed flag with content to report."),
        "report-bad-summary" => Refused("The summary must be 1 to 5,000 characters."),
        "report-bad-type" => Refused("Choose one of the CyberTipline's incident types."),
        "report-not-configured" => Refused("Reporting is not configured ([review.cybertipline])."),
        _ => return None,
    })
}
