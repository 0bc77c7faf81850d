//! Experts and their skills in PostgreSQL.

use chrono::{DateTime, NaiveTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use sysops_contract::{Availability, ExpertChanged, Skill};

use crate::domain::expert::{availability_str, in_shift, parse_availability};
use crate::domain::{Candidate, NewExpert};

/// An expert as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Expert {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub skills: Vec<Skill>,
    pub regions: Vec<String>,
    pub availability: Availability,
    /// Daily shift window in UTC, `HH:MM`.
    pub shift_start: Option<String>,
    pub shift_end: Option<String>,
    /// Most open tickets at once.
    pub capacity: i32,
    /// Open assignments now.
    pub load: i32,
    pub last_assigned_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Expert {
    /// The `expert.changed` payload describing this expert.
    pub fn changed(&self) -> ExpertChanged {
        ExpertChanged {
            expert_id: self.id,
            name: self.name.clone(),
            availability: self.availability,
            capacity: u32::try_from(self.capacity).unwrap_or(0),
            skills: self.skills.clone(),
            regions: self.regions.clone(),
        }
    }

    /// The pools the expert serves.
    pub fn pools(&self) -> Vec<String> {
        self.skills.iter().map(|s| s.pool.clone()).collect()
    }
}

#[derive(sqlx::FromRow)]
struct ExpertRow {
    id: Uuid,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    regions: Vec<String>,
    availability: String,
    shift_start: Option<NaiveTime>,
    shift_end: Option<NaiveTime>,
    capacity: i32,
    load: i32,
    last_assigned_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    skills: sqlx::types::Json<Vec<Skill>>,
}

const SELECT_EXPERT: &str = "SELECT e.id, e.name, e.email, e.phone, e.regions, e.availability, \
     e.shift_start, e.shift_end, e.capacity, e.load, e.last_assigned_at, e.created_at, e.updated_at, \
     COALESCE((SELECT json_agg(json_build_object('pool', s.pool, 'proficiency', s.proficiency) ORDER BY s.pool) \
               FROM expert_skills s WHERE s.expert_id = e.id), '[]') AS skills \
     FROM experts e";

impl From<ExpertRow> for Expert {
    fn from(r: ExpertRow) -> Self {
        let fmt = |t: Option<NaiveTime>| t.map(|t| t.format("%H:%M").to_string());
        Expert {
            id: r.id,
            name: r.name,
            email: r.email,
            phone: r.phone,
            skills: r.skills.0,
            regions: r.regions,
            availability: parse_availability(&r.availability),
            shift_start: fmt(r.shift_start),
            shift_end: fmt(r.shift_end),
            capacity: r.capacity,
            load: r.load,
            last_assigned_at: r.last_assigned_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Filters of the expert list.
#[derive(Debug, Default, Clone)]
pub struct ExpertFilter {
    pub pool: Option<String>,
    pub availability: Option<String>,
    pub region: Option<String>,
}

/// Experts ordered by name.
pub async fn list(pool: &PgPool, f: &ExpertFilter) -> Result<Vec<Expert>, sqlx::Error> {
    let q = format!(
        "{SELECT_EXPERT} WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM expert_skills s WHERE s.expert_id = e.id AND s.pool = $1)) \
         AND ($2::text IS NULL OR e.availability = $2) AND ($3::text IS NULL OR $3 = ANY(e.regions)) ORDER BY e.name, e.id"
    );
    let rows: Vec<ExpertRow> = sqlx::query_as(&q)
        .bind(&f.pool)
        .bind(&f.availability)
        .bind(&f.region)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(Expert::from).collect())
}

/// One expert.
pub async fn get<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    id: Uuid,
) -> Result<Option<Expert>, sqlx::Error> {
    let q = format!("{SELECT_EXPERT} WHERE e.id = $1");
    let row: Option<ExpertRow> = sqlx::query_as(&q).bind(id).fetch_optional(executor).await?;
    Ok(row.map(Expert::from))
}

/// The pools an expert serves (empty when unknown).
pub async fn pools_of(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT pool FROM expert_skills WHERE expert_id = $1 ORDER BY pool")
        .bind(id)
        .fetch_all(&mut **tx)
        .await
}

/// Inserts a new expert or replaces every field of an existing one (load and history stay).
pub async fn upsert(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    e: &NewExpert,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO experts (id, name, email, phone, regions, availability, shift_start, shift_end, capacity) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (id) DO UPDATE SET name = $2, email = $3, phone = $4, regions = $5, availability = $6, \
         shift_start = $7, shift_end = $8, capacity = $9, updated_at = now()",
    )
    .bind(id)
    .bind(&e.name)
    .bind(&e.email)
    .bind(&e.phone)
    .bind(&e.regions)
    .bind(availability_str(e.availability))
    .bind(e.shift.map(|s| s.0))
    .bind(e.shift.map(|s| s.1))
    .bind(e.capacity)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM expert_skills WHERE expert_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let pools: Vec<String> = e.skills.keys().cloned().collect();
    let proficiencies: Vec<f32> = e.skills.values().copied().collect();
    sqlx::query(
        "INSERT INTO expert_skills (expert_id, pool, proficiency) SELECT $1, * FROM UNNEST($2::text[], $3::real[])",
    )
    .bind(id)
    .bind(&pools)
    .bind(&proficiencies)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct CandidateRow {
    id: Uuid,
    name: String,
    proficiency: f32,
    regions: Vec<String>,
    availability: String,
    shift_start: Option<NaiveTime>,
    shift_end: Option<NaiveTime>,
    capacity: i32,
    load: i32,
    last_assigned_at: Option<DateTime<Utc>>,
}

/// Every expert of a pool, as the scorer needs them, at `now`.
pub async fn candidates(
    tx: &mut Transaction<'_, Postgres>,
    pool: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, sqlx::Error> {
    let rows: Vec<CandidateRow> = sqlx::query_as(
        "SELECT e.id, e.name, s.proficiency, e.regions, e.availability, e.shift_start, e.shift_end, \
         e.capacity, e.load, e.last_assigned_at \
         FROM expert_skills s JOIN experts e ON e.id = s.expert_id WHERE s.pool = $1 ORDER BY e.id",
    )
    .bind(pool)
    .fetch_all(&mut **tx)
    .await?;
    let time = now.time();
    Ok(rows
        .into_iter()
        .map(|r| Candidate {
            expert_id: r.id,
            name: r.name,
            proficiency: r.proficiency,
            regions: r.regions,
            availability: parse_availability(&r.availability),
            in_shift: in_shift(r.shift_start.zip(r.shift_end), time),
            capacity: r.capacity,
            load: r.load,
            last_assigned_at: r.last_assigned_at,
        })
        .collect())
}

/// Takes a unit of capacity whatever the capacity: a person accepted work routing had
/// already taken back. Returns the load after.
pub async fn force_slot(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> Result<Option<(i32, i32)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE experts SET load = load + 1, last_assigned_at = now() WHERE id = $1 RETURNING load, capacity",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}
