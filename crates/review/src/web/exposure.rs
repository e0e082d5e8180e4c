//! What a page needs to draw revealed content for one person — their viewing settings,
//! their reveals today and their cap — and the line that tells them; kept apart from the
//! wellness routes so that the pages can use it without importing the routes.

use maud::{Markup, html};

use crate::wellness::{Exposure, ViewSettings};

/// What a page needs to draw content for one person: their settings, their reveals today,
/// and their cap (none for leads, or without `review.daily_reveal_cap`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct View {
    pub(crate) settings: ViewSettings,
    pub(crate) today: Exposure,
    pub(crate) cap: Option<u32>,
}

impl View {
    /// Whether the person may reveal nothing more today.
    pub(crate) fn at_cap(&self) -> bool {
        self.cap
            .is_some_and(|cap| self.today.total() >= i64::from(cap))
    }

    /// The classes of the element holding a flag's images and frames.
    pub(crate) fn media_classes(&self) -> String {
        let s = &self.settings;
        format!(
            "media blur-{} size-{}{}",
            s.blur.as_str(),
            s.reveal_size_px,
            if s.colour { "" } else { " grey" }
        )
    }

    /// Today's reveals, as the queue and flag pages show them to their person.
    pub(crate) fn exposure_line(&self) -> Markup {
        let total = self.today.total();
        html! {
            p.exposure #exposure {
                "Revealed today (UTC): " strong #reveals-today { (total) }
                " (images " (self.today.images) ", video frames " (self.today.frames) ")"
                @if let Some(cap) = self.cap { " of at most " (cap) "." } @else { "." }
                @if self.at_cap() {
                    " You reached today's limit: nothing more is revealed for you today, and "
                    em { "Claim next item" } " gives you items without images or video frames."
                }
                " " a href="/account/wellness" { "Viewing settings" }
            }
        }
    }
}
