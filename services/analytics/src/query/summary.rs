//! `GET /api/dashboard/summary` and the dead letters.

use super::*;

/// `GET /api/dashboard/summary`: the headline figures.
pub fn summary(frames: &Frames, filters: &Filters) -> PolarsResult<Value> {
    let lf = tickets(frames, filters);
    let totals = one(&lf
        .clone()
        .select([
            len().alias("tickets"),
            count_if(is_closed().not(), "open"),
            count_if(col("held"), "held"),
            count_if(col("status").eq(lit("queued")), "backlog"),
            count_if(col("needs_review"), "needs_review"),
            count_if(col("status").eq(lit("needs_review")), "awaiting_review"),
            count_if(col("overridden"), "overridden"),
            count_if(col("breached"), "breached"),
            count_if(col("reassignments").gt(lit(0u32)), "reassigned"),
            count_if(col("resolved_ms").is_not_null(), "resolved"),
            col("confidence").mean().alias("mean_confidence"),
        ])
        .collect()?)?;

    let by_status: HashMap<String, Value> = grouped(lf.clone(), "status", vec![])?
        .into_iter()
        .filter_map(|r| Some((r["status"].as_str()?.to_owned(), r["tickets"].clone())))
        .collect();
    let statuses: Vec<Value> = TicketStatus::ALL
        .iter()
        .map(|s| {
            json!({
                "status": s.as_str(),
                "tickets": by_status.get(s.as_str()).cloned().unwrap_or(json!(0)),
                "drill": filters.drill_with(&[("status", json!(s.as_str()))]),
            })
        })
        .collect();

    let reached = one(&lf
        .clone()
        .select(
            STAGES
                .iter()
                .map(|(stage, column)| col(*column).count().alias(*stage))
                .collect::<Vec<_>>(),
        )
        .collect()?)?;
    let funnel: Vec<Value> = STAGES
        .iter()
        .map(|(stage, _)| {
            json!({
                "stage": stage,
                "tickets": reached.get(*stage).cloned().unwrap_or(json!(0)),
                "drill": filters.drill_with(&[("reached", json!(stage))]),
            })
        })
        .collect();
    let mut regions = grouped(lf.clone(), "region", vec![])?;
    add_drill(&mut regions, "region", filters, &[]);

    let drills = [
        ("open", json!({"open": true})),
        ("held", json!({"held": true})),
        ("backlog", json!({"status": "queued"})),
        ("needs_review", json!({"needs_review": true})),
        ("awaiting_review", json!({"status": "needs_review"})),
        ("overridden", json!({"overridden": true})),
        ("breached", json!({"breached": "any"})),
        ("reassigned", json!({"reassigned": true})),
    ];
    let mut drill = Map::new();
    drill.insert("tickets".into(), filters.echo());
    for (name, extra) in drills {
        let mut m = filters.drill();
        if let Value::Object(e) = extra {
            m.extend(e);
        }
        drill.insert(name.into(), Value::Object(m));
    }

    let dead = dead_letter_count(frames, filters)?;
    let events_total: u64 = frames.events_by_type.values().sum();
    let mut out = totals;
    out.insert("tickets_created".into(), out["tickets"].clone());
    out.insert("statuses".into(), json!(statuses));
    out.insert("funnel".into(), json!(funnel));
    out.insert("regions".into(), json!(regions));
    out.insert(
        "durations".into(),
        Value::Object(Profile::of(lf.clone(), &[], &DURATIONS)?.overall),
    );
    out.insert("methods".into(), json!(methods(lf.clone(), filters)?));
    out.insert(
        "categories".into(),
        json!(categorizer_per_category(lf, filters)?),
    );
    out.insert("dead_letters".into(), json!(dead));
    out.insert("events_total".into(), json!(events_total));
    out.insert("events_by_type".into(), json!(frames.events_by_type));
    out.insert("drill".into(), Value::Object(drill));
    out.insert("filters".into(), filters.echo());
    out.insert("version".into(), json!(frames.version));
    Ok(Value::Object(out))
}

pub(super) fn dead_letter_count(frames: &Frames, filters: &Filters) -> PolarsResult<u32> {
    let df = dead_letters_in(frames, filters, None)
        .select([len().alias("n")])
        .collect()?;
    Ok(one(&df)?["n"].as_u64().unwrap_or(0) as u32)
}

pub(super) fn dead_letters_in(
    frames: &Frames,
    filters: &Filters,
    queue: Option<&str>,
) -> LazyFrame {
    let mut e = lit(true);
    if let Some(t) = filters.from_ms {
        e = e.and(col("at_ms").gt_eq(lit(t)));
    }
    if let Some(t) = filters.to_ms {
        e = e.and(col("at_ms").lt(lit(t)));
    }
    if let Some(q) = queue {
        e = e.and(col("queue").eq(lit(q)));
    }
    frames.dead_letters.clone().lazy().filter(e)
}

/// `GET /api/analytics/dead-letters`: dead-lettered messages, newest first, with counts by
/// queue.
pub fn dead_letters(
    frames: &Frames,
    filters: &Filters,
    queue: Option<&str>,
    limit: u32,
) -> PolarsResult<(Value, DataFrame)> {
    let lf = dead_letters_in(frames, filters, queue);
    let by_queue = records(
        &lf.clone()
            .group_by([col("queue")])
            .agg([len().alias("messages")])
            .sort(["queue"], SortMultipleOptions::default())
            .collect()?,
    )?;
    let all = lf
        .sort(
            ["at_ms"],
            SortMultipleOptions::default().with_order_descending(true),
        )
        .collect()?;
    let page = all.head(Some(limit as usize));
    Ok((
        json!({
            "total": all.height(),
            "by_queue": by_queue,
            "dead_letters": records(&page)?,
        }),
        all,
    ))
}
