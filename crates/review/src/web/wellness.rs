//! Reviewer wellness in the console: each person's viewing settings (`/account/wellness`),
//! how revealed content and previews are drawn with them (classes the stylesheet's
//! `wellness.css` part styles: inline styles are barred by the Content-Security-Policy),
//! today's reveals, the daily cap, blurring a revealed image or frame again, and `/team`,
//! where leads see everyone's reveals today.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::{Answer, WebError};
use super::exposure::View;
use super::notice::{NoticeQuery, notice};
use super::pages::{Notice, layout, notice_line};
use super::seeing::may_see_attachment;
use super::signed::Signed;
use super::{AppState, CsrfForm, Tried, forbidden, lead_only, see_other};
use crate::access::{Action, FrameDetail};
use crate::wellness::{Blur, REVEAL_SIZES_PX, TeamMember, ViewSettings, capped_role};

/// `signed`'s [`View`].
pub(crate) async fn view(state: &AppState, signed: &Signed) -> Result<View, WebError> {
    let cap = state.config.review.daily_reveal_cap;
    Ok(View {
        settings: state.store.view_settings(&signed.who).await?,
        today: state.store.exposure_today(&signed.who).await?,
        cap: capped_role(&signed.who, cap).then_some(cap),
    })
}

/// Whether `signed` reached their daily reveal cap (never, for a role without one).
pub(crate) async fn at_cap(state: &AppState, signed: &Signed) -> Result<bool, WebError> {
    let cap = state.config.review.daily_reveal_cap;
    if !capped_role(&signed.who, cap) {
        return Ok(false);
    }
    Ok(state.store.exposure_today(&signed.who).await?.total() >= i64::from(cap))
}

/// A reveal refused at the daily cap: logged as `denied` (`what`, with the flag), and the
/// flag page again with the notice saying why.
pub(crate) async fn refused_at_cap(
    state: &AppState,
    signed: &Signed,
    flag_id: &str,
    what: &str,
) -> Answer {
    let detail = format!("{what} (daily reveal cap)");
    state
        .store
        .log_access(&signed.access(Action::Denied).flag(flag_id).detail(&detail))
        .await?;
    Ok(see_other(&format!("/flags/{flag_id}?notice=reveal-cap")))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SettingsForm {
    #[serde(default)]
    csrf: String,
    /// A checkbox: absent when unticked.
    colour: Option<String>,
    #[serde(default)]
    reveal_size_px: String,
    #[serde(default)]
    blur: String,
}

impl SettingsForm {
    /// The settings asked for, or why they cannot be.
    fn settings(&self) -> Result<ViewSettings, &'static str> {
        let colour = match self.colour.as_deref() {
            None => false,
            Some("on") => true,
            Some(_) => return Err("Colour is on or off."),
        };
        let reveal_size_px = self
            .reveal_size_px
            .parse()
            .ok()
            .filter(|px| REVEAL_SIZES_PX.contains(px))
            .ok_or("Choose one of the sizes offered (160 to 640 pixels).")?;
        let blur = Blur::parse(&self.blur).ok_or("Choose low, medium or high blur.")?;
        Ok(ViewSettings {
            colour,
            reveal_size_px,
            blur,
        })
    }
}

/// The settings page is for people who see content.
async fn sees_content(state: &AppState, signed: &Signed) -> Result<(), WebError> {
    if signed.who.role.sees_content() {
        Ok(())
    } else {
        Err(forbidden(state, signed, "/account/wellness", Tried::default()).await)
    }
}

pub(crate) async fn settings_page(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<NoticeQuery>,
) -> Answer {
    sees_content(&state, &signed).await?;
    let view = view(&state, &signed).await?;
    Ok(settings_markup(
        &signed,
        &view,
        view.settings,
        notice(query.notice.as_deref()),
    )
    .into_response())
}

pub(crate) async fn save_settings(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<SettingsForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    sees_content(&state, &signed).await?;
    let settings = match form.settings() {
        Ok(settings) => settings,
        Err(why) => {
            let view = view(&state, &signed).await?;
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                settings_markup(&signed, &view, view.settings, Some(Notice::Refused(why))),
            )
                .into_response());
        }
    };
    state
        .store
        .set_view_settings(&signed.who, settings, &signed.remote_addr)
        .await
        // The size was checked above: a refusal now is the server's failure.
        .map_err(|err| WebError::Internal(Box::new(err)))?;
    Ok(see_other("/account/wellness?notice=settings-saved"))
}

fn settings_markup(
    signed: &Signed,
    view: &View,
    shown: ViewSettings,
    notice: Option<Notice>,
) -> Markup {
    layout(
        Some(signed),
        "Viewing settings",
        html! {
            (notice_line(notice))
            (view.exposure_line())
            form.wellness method="post" action="/account/wellness" {
                input type="hidden" name="csrf" value=(signed.csrf);
                label {
                    input type="checkbox" name="colour" checked[shown.colour];
                    " Show revealed images and video frames in colour (otherwise in greyscale)"
                }
                label {
                    "Largest side of a revealed image or frame "
                    select name="reveal_size_px" {
                        @for px in REVEAL_SIZES_PX {
                            option value=(px) selected[px == shown.reveal_size_px] { (px) " px" }
                        }
                    }
                }
                label {
                    "Blur of the previews "
                    select name="blur" {
                        @for level in Blur::ALL {
                            option value=(level.as_str()) selected[level == shown.blur] {
                                (level.as_str()) " (" (level.radius_px()) " px)"
                            }
                        }
                    }
                }
                button type="submit" { "Save" }
            }
            p {
                "Previews are a coarse grey mosaic made when the flag was stored, so they show "
                "nothing of the content whatever the blur; the blur makes them easier on the eye. "
                "Greyscale and size are applied by your browser to the image it was sent. A revealed "
                "image or frame can be blurred again with one click on its page; revealing it again "
                "is logged, and counted, anew."
            }
        },
    )
}

pub(crate) async fn team(State(state): State<AppState>, signed: Signed) -> Answer {
    lead_only(&state, &signed, "/team", Tried::default()).await?;
    let members = state.store.team_exposure().await?;
    let cap = state.config.review.daily_reveal_cap;
    Ok(team_markup(&signed, &members, cap).into_response())
}

fn team_markup(signed: &Signed, members: &[TeamMember], cap: u32) -> Markup {
    layout(
        Some(signed),
        "Team",
        html! {
            p {
                "Images and video frames each person revealed today (UTC), from the access log. "
                @if cap > 0 { "Reviewers may reveal " (cap) " a day (" code { "review.daily_reveal_cap" } "); leads are not capped." }
                @else { "No daily cap is set (" code { "review.daily_reveal_cap" } ")." }
            }
            table.team {
                thead { tr { th { "who" } th { "role" } th { "images" } th { "video frames" } th { "revealed today" } th { "at the cap" } } }
                tbody {
                    @for m in members {
                        @let at_cap = cap > 0 && m.role == crate::accounts::Role::Reviewer && m.today.total() >= i64::from(cap);
                        tr {
                            td { (m.pseudonym) } td { (m.role.as_str()) }
                            td { (m.today.images) } td { (m.today.frames) } td { (m.today.total()) }
                            td { @if at_cap { "yes" } @else { "—" } }
                        }
                    }
                }
            }
        },
    )
}

/// `POST /flags/{flag_id}/images/{attachment_id}/reblur`: the image is blurred again for
/// this person (logged `reblur_image`) until they reveal it again, which is a new reveal.
pub(crate) async fn reblur_image(
    State(state): State<AppState>,
    signed: Signed,
    Path((flag_id, attachment_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    let what = "/flags/images/reblur";
    may_see_attachment(&state, &signed, &flag_id, &attachment_id, what).await?;
    if state
        .store
        .revealed(&signed.who, &flag_id, &attachment_id, signed.since)
        .await?
    {
        let access = signed
            .access(Action::ReblurImage)
            .flag(&flag_id)
            .image(&attachment_id);
        state.store.log_access(&access).await?;
    }
    Ok(back_to(&flag_id))
}

/// `POST /flags/{flag_id}/videos/{attachment_id}/frames/{frame_ms}/reblur`: as
/// [`reblur_image`], for one frame (`reblur_frame`).
pub(crate) async fn reblur_frame(
    State(state): State<AppState>,
    signed: Signed,
    Path((flag_id, attachment_id, frame_ms)): Path<(String, String, u64)>,
    Form(form): Form<CsrfForm>,
) -> Answer {
    signed.check_csrf(&form.csrf)?;
    let what = "/flags/videos/frames/reblur";
    may_see_attachment(&state, &signed, &flag_id, &attachment_id, what).await?;
    if state
        .store
        .revealed_frame(
            &signed.who,
            &flag_id,
            &attachment_id,
            frame_ms,
            signed.since,
        )
        .await?
    {
        let frame = FrameDetail::new(frame_ms);
        let access = signed
            .access(Action::ReblurFrame)
            .flag(&flag_id)
            .frame(&attachment_id, &frame);
        state.store.log_access(&access).await?;
    }
    Ok(back_to(&flag_id))
}

fn back_to(flag_id: &str) -> Response {
    see_other(&format!("/flags/{flag_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wellness::Exposure;

    #[test]
    fn the_stylesheet_has_a_rule_for_every_setting_the_page_offers() {
        let css = include_str!("wellness.css");
        for px in REVEAL_SIZES_PX {
            let rule = format!(
                "div.media.size-{px} img.revealed, div.media.size-{px} img.revealed-frame \
                 {{ max-width: {px}px; max-height: {px}px; }}"
            );
            assert!(css.contains(&rule), "{rule}");
        }
        for level in Blur::ALL {
            let (name, radius) = (level.as_str(), level.radius_px());
            let rule = format!(
                "div.media.blur-{name} img.blurred, div.media.blur-{name} img.blurred-frame \
                 {{ filter: blur({radius}px) grayscale(1); }}"
            );
            assert!(css.contains(&rule), "{rule}");
        }
    }

    #[test]
    fn the_cap_counts_images_and_frames_together() {
        let view = |images, frames, cap| View {
            settings: ViewSettings::default(),
            today: Exposure { images, frames },
            cap,
        };
        assert!(!view(1, 0, Some(2)).at_cap());
        assert!(view(1, 1, Some(2)).at_cap());
        assert!(!view(100, 100, None).at_cap());
        assert_eq!(
            view(0, 0, None).media_classes(),
            "media blur-medium size-320 grey"
        );
    }
}
