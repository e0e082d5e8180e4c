//! Who may see a flag's content: leads any flag, reviewers the flags they hold; and the
//! refusal (logged) of everyone else. Shared by the flag, image, frame and wellness routes.

use axum::http::StatusCode;

use super::error::WebError;
use super::signed::Signed;
use super::{AppState, Tried, forbidden, valid_flag_id};

/// Content is shown to a reviewer holding the item's claim, or to a lead.
pub(super) async fn may_see(
    state: &AppState,
    signed: &Signed,
    flag_id: &str,
) -> Result<bool, WebError> {
    if !signed.who.role.sees_content() || !valid_flag_id(flag_id) {
        return Ok(false);
    }
    if signed.who.role == crate::accounts::Role::Lead {
        return Ok(true);
    }
    Ok(state.store.holds(&signed.who, flag_id).await?)
}

/// An attachment id no message can have (control characters, too long) is not looked up:
/// the database would refuse a NUL in it.
pub(super) fn known_image_id(attachment_id: &str) -> Result<(), WebError> {
    if vigil_core::valid_id(attachment_id) {
        Ok(())
    } else {
        Err(WebError::Refused(StatusCode::NOT_FOUND, "no such image"))
    }
}

/// Refuses, and logs the attempt at `what`, unless `signed` may see flag `flag_id` and
/// `attachment_id` is a well-formed id.
pub(super) async fn may_see_attachment(
    state: &AppState,
    signed: &Signed,
    flag_id: &str,
    attachment_id: &str,
    what: &str,
) -> Result<(), WebError> {
    known_image_id(attachment_id)?;
    if may_see(state, signed, flag_id).await? {
        return Ok(());
    }
    Err(refused(state, signed, flag_id, attachment_id, what).await)
}

/// The refusal of `what` on flag `flag_id`'s attachment `attachment_id`, logged.
pub(super) async fn refused(
    state: &AppState,
    signed: &Signed,
    flag_id: &str,
    attachment_id: &str,
    what: &str,
) -> WebError {
    forbidden(state, signed, what, Tried::image(flag_id, attachment_id)).await
}
