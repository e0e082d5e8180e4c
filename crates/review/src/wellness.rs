//! Reviewer wellness (issue 24): how each person has revealed content shown (greyscale or
//! colour, at most how large, how strongly the previews are blurred), how many images and
//! video frames they revealed today (UTC), and the optional daily cap on reveals.
//!
//! The counter reads the access log's `reveal_image` and `reveal_frame` rows: the record of
//! who saw what is also the record of how much they saw.

use sqlx::Row;

use crate::access::{Access, Action, log_access_on};
use crate::accounts::{Reviewer, Role};
use crate::store::{Store, StoreError};

/// The longer-side bounds, in pixels, a person may choose for revealed images and frames.
pub const REVEAL_SIZES_PX: [u32; 7] = [160, 240, 320, 400, 480, 560, 640];

/// The bound nobody changed: small enough to take in at a glance, large enough to judge.
pub const DEFAULT_REVEAL_SIZE_PX: u32 = 320;

/// How strongly the browser blurs the previews on top of the mosaic rendered at ingest
/// (which already holds nothing of the content: this is for the eye, not for secrecy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Blur {
    /// `filter: blur(3px)`.
    Low,
    /// `filter: blur(6px)`: what every preview had before the setting.
    #[default]
    Medium,
    /// `filter: blur(12px)`.
    High,
}

impl Blur {
    /// Every level, weakest first.
    pub const ALL: [Blur; 3] = [Blur::Low, Blur::Medium, Blur::High];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Blur::Low => "low",
            Blur::Medium => "medium",
            Blur::High => "high",
        }
    }

    /// Parses the stored name.
    pub fn parse(value: &str) -> Option<Blur> {
        Blur::ALL.into_iter().find(|b| b.as_str() == value)
    }

    /// The CSS blur radius, in pixels.
    pub fn radius_px(self) -> u32 {
        match self {
            Blur::Low => 3,
            Blur::Medium => 6,
            Blur::High => 12,
        }
    }
}

/// One person's viewing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewSettings {
    /// Revealed images and frames in colour (the default is greyscale).
    pub colour: bool,
    /// The longer side of a revealed image or frame is at most this (one of
    /// [`REVEAL_SIZES_PX`]).
    pub reveal_size_px: u32,
    /// The previews' extra blur.
    pub blur: Blur,
}

impl Default for ViewSettings {
    fn default() -> ViewSettings {
        ViewSettings {
            colour: false,
            reveal_size_px: DEFAULT_REVEAL_SIZE_PX,
            blur: Blur::Medium,
        }
    }
}

/// Why settings were not saved.
#[derive(Debug, thiserror::Error)]
pub enum WellnessError {
    /// Not one of [`REVEAL_SIZES_PX`].
    #[error("the reveal size must be one of {REVEAL_SIZES_PX:?} px")]
    RevealSize,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reveals one person made today (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exposure {
    /// Images revealed.
    pub images: i64,
    /// Video frames revealed.
    pub frames: i64,
}

impl Exposure {
    /// Images and frames together: what the cap counts.
    pub fn total(self) -> i64 {
        self.images + self.frames
    }
}

/// One line of the team page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    /// Their pseudonym.
    pub pseudonym: String,
    /// `reviewer` or `lead`.
    pub role: Role,
    /// Their reveals today.
    pub today: Exposure,
}

/// Whether `who` is held to a daily cap of `cap` reveals (0: no cap). Leads are not: they
/// take the escalations and the reports, the work a capped reviewer is routed away from.
pub fn capped_role(who: &Reviewer, cap: u32) -> bool {
    cap > 0 && who.role == Role::Reviewer
}

/// The start of today (UTC), in SQL.
const TODAY: &str = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";

impl Store {
    /// `who`'s viewing settings (the defaults until they change them).
    pub async fn view_settings(&self, who: &Reviewer) -> Result<ViewSettings, StoreError> {
        let row = sqlx::query(
            "SELECT colour, reveal_size_px, blur FROM reviewer_settings WHERE reviewer_id = $1",
        )
        .bind(who.id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("read viewing settings"))?;
        Ok(row.map_or_else(ViewSettings::default, |r| ViewSettings {
            colour: r.get("colour"),
            reveal_size_px: u32::try_from(r.get::<i32, _>("reveal_size_px"))
                .unwrap_or(DEFAULT_REVEAL_SIZE_PX),
            blur: Blur::parse(r.get("blur")).unwrap_or_default(),
        }))
    }

    /// Saves `who`'s viewing settings, and logs the change (`change_view_settings`, the new
    /// values as its detail) in the same transaction.
    pub async fn set_view_settings(
        &self,
        who: &Reviewer,
        settings: ViewSettings,
        remote_addr: &str,
    ) -> Result<(), WellnessError> {
        if !REVEAL_SIZES_PX.contains(&settings.reveal_size_px) {
            return Err(WellnessError::RevealSize);
        }
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        sqlx::query(
            "INSERT INTO reviewer_settings (reviewer_id, colour, reveal_size_px, blur)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (reviewer_id) DO UPDATE SET colour = $2, reveal_size_px = $3,
                 blur = $4, updated_at = now()",
        )
        .bind(who.id)
        .bind(settings.colour)
        .bind(i32::try_from(settings.reveal_size_px).unwrap_or(i32::MAX))
        .bind(settings.blur.as_str())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("save viewing settings"))?;
        let detail = format!(
            "colour={} reveal_size_px={} blur={}",
            settings.colour,
            settings.reveal_size_px,
            settings.blur.as_str()
        );
        log_access_on(
            &mut tx,
            &Access::by(who, Action::ChangeViewSettings, remote_addr).detail(&detail),
        )
        .await?;
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(())
    }

    /// The images and video frames `who` revealed today (UTC), from the access log.
    pub async fn exposure_today(&self, who: &Reviewer) -> Result<Exposure, StoreError> {
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(StoreError::db("count reveals"))?;
        exposure_on(&mut conn, who.id).await
    }

    /// Everyone who sees content (enabled accounts), with today's reveals, most first.
    pub async fn team_exposure(&self) -> Result<Vec<TeamMember>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT r.pseudonym, r.role,
                    count(a.id) FILTER (WHERE a.action = 'reveal_image') AS images,
                    count(a.id) FILTER (WHERE a.action = 'reveal_frame') AS frames
             FROM reviewers r
             LEFT JOIN access_log a ON a.reviewer_id = r.id
                  AND a.action IN ('reveal_image', 'reveal_frame') AND a.at >= {TODAY}
             WHERE r.role IN ('reviewer', 'lead') AND NOT r.disabled
             GROUP BY r.id, r.pseudonym, r.role
             ORDER BY count(a.id) DESC, r.pseudonym"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("count the team's reveals"))?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(TeamMember {
                    pseudonym: r.get("pseudonym"),
                    role: Role::parse(r.get("role"))?,
                    today: Exposure {
                        images: r.get("images"),
                        frames: r.get("frames"),
                    },
                })
            })
            .collect())
    }

    /// Logs a reveal (`access`, by a person) unless its author is held to a daily cap of
    /// `cap` and reached it; returns whether it was logged (and so may be shown). Under a
    /// cap, the author's reveals are counted and logged one at a time, so two at once
    /// cannot both pass the last place left.
    pub async fn log_reveal(&self, access: &Access<'_>, cap: u32) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        if let Some(who) = access.who.filter(|who| capped_role(who, cap)) {
            // The reviewer's row, locked until commit, orders their reveals.
            sqlx::query("SELECT 1 FROM reviewers WHERE id = $1 FOR NO KEY UPDATE")
                .bind(who.id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("order reveals"))?;
            if exposure_on(&mut tx, who.id).await?.total() >= i64::from(cap) {
                return Ok(false);
            }
        }
        log_access_on(&mut tx, access).await?;
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(true)
    }
}

async fn exposure_on(conn: &mut sqlx::PgConnection, id: i64) -> Result<Exposure, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT count(*) FILTER (WHERE action = 'reveal_image') AS images,
                count(*) FILTER (WHERE action = 'reveal_frame') AS frames
         FROM access_log
         WHERE reviewer_id = $1 AND action IN ('reveal_image', 'reveal_frame') AND at >= {TODAY}"
    ))
    .bind(id)
    .fetch_one(conn)
    .await
    .map_err(StoreError::db("count reveals"))?;
    Ok(Exposure {
        images: row.get("images"),
        frames: row.get("frames"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_levels_round_trip_and_grow() {
        for level in Blur::ALL {
            assert_eq!(Blur::parse(level.as_str()), Some(level));
        }
        assert_eq!(Blur::parse("none"), None);
        assert!(
            Blur::ALL
                .windows(2)
                .all(|w| w[0].radius_px() < w[1].radius_px())
        );
        assert_eq!(ViewSettings::default().blur.radius_px(), 6);
    }

    #[test]
    fn only_reviewers_are_capped_and_only_with_a_cap() {
        let who = |role| Reviewer {
            id: 1,
            username: "x".into(),
            pseudonym: "reviewer-1".into(),
            role,
        };
        assert!(capped_role(&who(Role::Reviewer), 5));
        assert!(!capped_role(&who(Role::Reviewer), 0));
        assert!(!capped_role(&who(Role::Lead), 5));
        assert!(REVEAL_SIZES_PX.contains(&DEFAULT_REVEAL_SIZE_PX));
    }
}
