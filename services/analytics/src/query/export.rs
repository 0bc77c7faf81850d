//! Drill-downs to the tickets behind a figure, and their CSV and Parquet export.

use super::*;

/// The columns of a drill-down, in the order they are listed and exported.
pub const DRILL_COLUMNS: [&str; 27] = [
    "ticket_id",
    "title",
    "status",
    "priority",
    "region",
    "channel",
    "customer",
    "category",
    "original_category",
    "pool",
    "method",
    "confidence",
    "needs_review",
    "overridden",
    "expert_name",
    "expert_id",
    "created_ms",
    "first_assigned_ms",
    "accepted_ms",
    "resolved_ms",
    "t_categorize",
    "t_assign",
    "t_accept",
    "t_resolve",
    "reassignments",
    "breached",
    "escalated",
];

/// The tickets behind a figure: those passing `filters` and `drill`, slowest or newest
/// first. Returns the total and the requested page as a frame.
pub fn drilldown(
    frames: &Frames,
    filters: &Filters,
    drill: &Drill,
    offset: u32,
    limit: Option<u32>,
) -> PolarsResult<(usize, DataFrame)> {
    let lf = tickets(frames, filters).filter(drill.expr());
    let sorted = match drill.slowest {
        Some(column) => lf.filter(col(column).is_not_null()).sort(
            [column],
            SortMultipleOptions::default().with_order_descending(true),
        ),
        None => lf.sort(
            ["created_ms"],
            SortMultipleOptions::default()
                .with_order_descending(true)
                .with_nulls_last(true),
        ),
    };
    let all = sorted
        .select(DRILL_COLUMNS.iter().map(|c| col(*c)).collect::<Vec<_>>())
        .collect()?;
    let total = all.height();
    let page = match limit {
        Some(n) => all.slice(i64::from(offset), n as usize),
        None => all.slice(i64::from(offset), total),
    };
    Ok((total, page))
}

/// The frame ready to export: times as UTC datetimes instead of epoch milliseconds.
pub fn exportable(df: DataFrame) -> PolarsResult<DataFrame> {
    let times: Vec<Expr> = df
        .columns()
        .iter()
        .filter_map(|c| {
            c.name()
                .strip_suffix("_ms")
                .map(|n| (c.name().clone(), n.to_owned()))
        })
        .map(|(ms, name)| {
            col(ms)
                .cast(DataType::Datetime(TimeUnit::Milliseconds, None))
                .alias(format!("{name}_at"))
        })
        .collect();
    let order: Vec<Expr> = df
        .columns()
        .iter()
        .map(|c| {
            let name = c.name().as_str();
            col(name
                .strip_suffix("_ms")
                .map_or(name.to_owned(), |n| format!("{n}_at")))
        })
        .collect();
    df.lazy().with_columns(times).select(order).collect()
}

/// The frame as CSV bytes.
pub fn to_csv(mut df: DataFrame) -> PolarsResult<Vec<u8>> {
    let mut out = Vec::new();
    CsvWriter::new(&mut out).finish(&mut df)?;
    Ok(out)
}

/// The frame as Parquet bytes.
pub fn to_parquet(mut df: DataFrame) -> PolarsResult<Vec<u8>> {
    let mut out = Vec::new();
    ParquetWriter::new(&mut out).finish(&mut df)?;
    Ok(out)
}
