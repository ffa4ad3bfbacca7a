//! The dashboard's figures (issue 21), as the page shows them: a period picker, the
//! headline figures against the period before, and sections of tables, each drawn as
//! a chart and downloadable as CSV. The page, the CSV route and the tests read the same
//! [`Figures`], built from `patron_app::dashboard`.

use crate::charts::{self, Chart, Kind, Series};
use crate::i18n::Lang;
use chrono::NaiveDate;
use patron_app::dashboard::{Dashboard, Named};
use patron_domain::period::{change_percent, Period, Step, DEFAULT_DAYS};
use patron_domain::validate::Invalid;
use patron_store::stats::metric;
use serde::Deserialize;

/// The picker's fields as typed (any of them may be missing or wrong).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Query {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub step: Option<String>,
}

/// The period and step a query asks for, or why not (then the default period).
pub fn choose(q: &Query, today: NaiveDate) -> (Period, Step, Vec<Invalid>) {
    let mut errors = Vec::new();
    let period = match (q.from.as_deref(), q.to.as_deref()) {
        (Some(f), Some(t)) if !f.is_empty() || !t.is_empty() => match Period::parse(f, t) {
            Ok(p) => p,
            Err(e) => {
                errors.push(e);
                Period::last(DEFAULT_DAYS, today)
            }
        },
        _ => Period::last(DEFAULT_DAYS, today),
    };
    let step = match q.step.as_deref() {
        None | Some("") => Step::Day,
        Some(s) => Step::parse(s).unwrap_or_else(|| {
            errors.push(patron_domain::validate::invalid("step", "invalid_choice"));
            Step::Day
        }),
    };
    (period, step, errors)
}

/// A table cell: what the page shows and what the CSV holds.
#[derive(Debug, Clone)]
pub struct Cell {
    pub text: String,
    pub raw: String,
    pub num: bool,
}

impl Cell {
    fn text(s: impl Into<String>) -> Cell {
        let s = s.into();
        Cell {
            raw: s.clone(),
            text: s,
            num: false,
        }
    }
    fn int(n: i64) -> Cell {
        Cell {
            text: crate::format::grouped(n),
            raw: n.to_string(),
            num: true,
        }
    }
    fn yuan(fen: i64) -> Cell {
        Cell {
            text: patron_domain::coupons::yuan(fen),
            raw: format!("{:.2}", fen as f64 / 100.0),
            num: true,
        }
    }
    fn percent(p: Option<i64>) -> Cell {
        Cell {
            text: p.map_or("—".into(), |p| format!("{p:+}%")),
            raw: p.map_or(String::new(), |p| p.to_string()),
            num: true,
        }
    }
    fn share(part: i64, whole: i64) -> Cell {
        let p = (whole > 0).then(|| (part as f64 * 100.0 / whole as f64).round() as i64);
        Cell {
            text: p.map_or("—".into(), |p| format!("{p}%")),
            raw: p.map_or(String::new(), |p| p.to_string()),
            num: true,
        }
    }
}

/// One table of a section, drawn by its charts.
#[derive(Debug, Clone)]
pub struct Table {
    /// Names the CSV (`/t/{slug}/dashboard/{id}.csv`) and the element's id.
    pub id: &'static str,
    pub caption: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Charts of the table (none for tables of names).
    pub charts: Vec<ChartView>,
}

/// A chart as inline SVG, with its series' names for the legend.
#[derive(Debug, Clone)]
pub struct ChartView {
    pub svg: String,
    pub legend: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Section {
    pub id: &'static str,
    pub title: String,
    pub tables: Vec<Table>,
}

/// A headline figure against the period before.
#[derive(Debug, Clone)]
pub struct Tile {
    pub label: String,
    pub value: String,
    /// "+12%", "−3%" or none when there was nothing before.
    pub change: Option<i64>,
    pub before: String,
}

#[derive(Debug, Clone)]
pub struct Figures {
    pub period: Period,
    pub previous: Period,
    pub step: Step,
    pub tiles: Vec<Tile>,
    pub sections: Vec<Section>,
    /// Nothing was ever rolled for the tenant.
    pub empty: bool,
    /// When the figures were last rolled.
    pub updated: Option<chrono::NaiveDateTime>,
}

impl Table {
    /// Nothing to show: no rows, or only zeros.
    pub fn is_empty(&self) -> bool {
        self.rows.iter().all(|row| {
            row.iter()
                .filter(|c| c.num)
                .all(|c| c.raw.is_empty() || c.raw.trim_start_matches(['0', '.']).is_empty())
        })
    }
}

impl Figures {
    pub fn table(&self, id: &str) -> Option<&Table> {
        self.sections
            .iter()
            .flat_map(|s| s.tables.iter())
            .find(|t| t.id == id)
    }
}

/// A bucket's label on a chart's axis: `11-09`, or `2026-11` for months.
fn axis_label(d: NaiveDate, step: Step) -> String {
    match step {
        Step::Month => d.format("%Y-%m").to_string(),
        _ => d.format("%m-%d").to_string(),
    }
}

/// A bucket in a table: its day, or its first and last day.
fn row_label(b: &patron_domain::period::Bucket) -> String {
    if b.first == b.last {
        b.first.to_string()
    } else {
        format!("{} – {}", b.first, b.last)
    }
}

fn chart(
    lang: Lang,
    title: &str,
    labels: &[String],
    series: &[(&str, &[i64])],
    kind: Kind,
) -> ChartView {
    let total: i64 = series.first().map_or(0, |(_, v)| v.iter().sum());
    let summary = lang.tn(
        "dash.chart_summary",
        &[&title, &crate::format::grouped(total)],
    );
    ChartView {
        svg: charts::svg(&Chart {
            title,
            summary: &summary,
            labels,
            series: series
                .iter()
                .map(|(name, values)| Series { name, values })
                .collect(),
            kind,
        }),
        legend: series.iter().map(|(name, _)| name.to_string()).collect(),
    }
}

/// WeChat's subscribe scene in words (`ADD_SCENE_SEARCH` → "Search"), the code itself
/// when it is one this version does not know.
fn scene_name(lang: Lang, code: &str) -> String {
    if code.is_empty() {
        return lang.t("dash.scene_unknown").to_string();
    }
    let key = format!("scene.{}", code.to_ascii_lowercase());
    match lang.t(&key) {
        k if k == key => code.to_string(),
        name => name.to_string(),
    }
}

/// A table of named dimensions: name, the period, the period before, the change.
fn named_table(lang: Lang, id: &'static str, caption: &str, what: &str, dims: &[Named]) -> Table {
    Table {
        id,
        caption: caption.to_string(),
        head: vec![
            what.to_string(),
            lang.t("dash.this_period").to_string(),
            lang.t("dash.previous_period").to_string(),
            lang.t("dash.change").to_string(),
        ],
        rows: dims
            .iter()
            .map(|d| {
                vec![
                    Cell::text(&d.name),
                    Cell::int(d.now),
                    Cell::int(d.before),
                    Cell::percent(change_percent(d.now, d.before)),
                ]
            })
            .collect(),
        charts: vec![],
    }
}

fn tile(label: &str, (now, before): (i64, i64), money: bool) -> Tile {
    let show = |v: i64| {
        if money {
            patron_domain::coupons::yuan(v)
        } else {
            crate::format::grouped(v)
        }
    };
    Tile {
        label: label.to_string(),
        value: show(now),
        change: change_percent(now, before),
        before: show(before),
    }
}

/// The page's figures in `lang`.
pub fn build(d: &Dashboard, lang: Lang, tz: &str) -> Figures {
    let t = |k: &str| lang.t(k).to_string();
    let labels: Vec<String> = d.labels().iter().map(|l| axis_label(*l, d.step)).collect();
    let follows = d.series(metric::FOLLOWS);
    let unfollows = d.series(metric::UNFOLLOWS);
    let net = d.net();
    let (fol, unf) = (d.total(metric::FOLLOWS), d.total(metric::UNFOLLOWS));
    let net_total = (fol.0 - unf.0, fol.1 - unf.1);

    // Audience.
    let mut audience_head = vec![
        t("dash.period"),
        t("dash.follows"),
        t("dash.unfollows"),
        t("dash.net"),
    ];
    if d.followers.is_some() {
        audience_head.push(t("dash.followers"));
    }
    let audience_rows = d
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut row = vec![
                Cell::text(row_label(b)),
                Cell::int(follows[i]),
                Cell::int(unfollows[i]),
                Cell::int(net[i]),
            ];
            if let Some(f) = &d.followers {
                row.push(Cell::int(f[i]));
            }
            row
        })
        .collect();
    let mut audience_charts = vec![chart(
        lang,
        &t("dash.follows_unfollows"),
        &labels,
        &[
            (&t("dash.follows"), &follows),
            (&t("dash.unfollows"), &unfollows),
        ],
        Kind::Bars,
    )];
    if let Some(f) = &d.followers {
        audience_charts.push(chart(
            lang,
            &t("dash.followers"),
            &labels,
            &[(&t("dash.followers"), f)],
            Kind::Lines,
        ));
    }
    let audience = Section {
        id: "audience",
        title: t("dash.audience"),
        tables: vec![
            Table {
                id: "audience",
                caption: t("dash.audience_by_period"),
                head: audience_head,
                rows: audience_rows,
                charts: audience_charts,
            },
            named_table(
                lang,
                "qr",
                &t("dash.follows_by_qr"),
                &t("dash.qr_code"),
                d.dims(metric::FOLLOWS_QR),
            ),
            named_table(
                lang,
                "scenes",
                &t("dash.follows_by_scene"),
                &t("dash.scene"),
                &d.dims(metric::FOLLOWS_SCENE)
                    .iter()
                    .map(|n| Named {
                        name: scene_name(lang, &n.key),
                        ..n.clone()
                    })
                    .collect::<Vec<_>>(),
            ),
            Table {
                id: "retention",
                caption: t("dash.retention"),
                head: vec![
                    t("dash.acquired_in"),
                    t("dash.acquired"),
                    t("dash.still_following"),
                    t("dash.retained_share"),
                ],
                rows: d
                    .buckets
                    .iter()
                    .zip(d.series(metric::ACQUIRED))
                    .zip(d.series(metric::STILL_FOLLOWING))
                    .map(|((b, acquired), still)| {
                        vec![
                            Cell::text(row_label(b)),
                            Cell::int(acquired),
                            Cell::int(still),
                            Cell::share(still, acquired),
                        ]
                    })
                    .collect(),
                charts: vec![],
            },
        ],
    };

    // Engagement.
    let messages = d.series(metric::MESSAGES);
    let answered = d.series(metric::ANSWERED);
    let events = d.series(metric::EVENTS);
    let engagement = Section {
        id: "engagement",
        title: t("dash.engagement"),
        tables: vec![
            Table {
                id: "engagement",
                caption: t("dash.engagement_by_period"),
                head: vec![
                    t("dash.period"),
                    t("dash.messages"),
                    t("dash.answered"),
                    t("dash.answered_share"),
                    t("dash.events"),
                ],
                rows: d
                    .buckets
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        vec![
                            Cell::text(row_label(b)),
                            Cell::int(messages[i]),
                            Cell::int(answered[i]),
                            Cell::share(answered[i], messages[i]),
                            Cell::int(events[i]),
                        ]
                    })
                    .collect(),
                charts: vec![chart(
                    lang,
                    &t("dash.messages"),
                    &labels,
                    &[
                        (&t("dash.messages"), &messages),
                        (&t("dash.answered"), &answered),
                    ],
                    Kind::Bars,
                )],
            },
            named_table(
                lang,
                "keywords",
                &t("dash.top_keywords"),
                &t("dash.keyword"),
                &d.dims(metric::KEYWORD)[..d.dims(metric::KEYWORD).len().min(20)],
            ),
            named_table(
                lang,
                "rules",
                &t("dash.rule_hits"),
                &t("dash.rule"),
                &d.dims(metric::RULE_HITS)
                    .iter()
                    .map(|n| Named {
                        name: match n.name.split_once('\t') {
                            Some((kind, "")) => lang.t(&format!("trigger.{kind}")).to_string(),
                            Some((kind, value)) => {
                                format!("{} “{value}”", lang.t(&format!("trigger.{kind}")))
                            }
                            // A rule deleted since: its number.
                            None => format!("#{}", n.key),
                        },
                        ..n.clone()
                    })
                    .collect::<Vec<_>>(),
            ),
            named_table(
                lang,
                "menu",
                &t("dash.menu_clicks"),
                &t("dash.menu_key"),
                d.dims(metric::MENU_CLICKS),
            ),
            named_table(
                lang,
                "scans",
                &t("dash.scans"),
                &t("dash.qr_code"),
                d.dims(metric::SCANS),
            ),
        ],
    };

    // Loyalty.
    let issued = d.series(metric::ISSUED);
    let opened = d.series(metric::OPENED);
    let redeemed = d.series(metric::REDEEMED);
    let by = |m: &str| -> std::collections::HashMap<&str, i64> {
        d.dims(m).iter().map(|n| (n.key.as_str(), n.now)).collect()
    };
    let (opened_by, redeemed_by) = (by(metric::OPENED), by(metric::REDEEMED));
    let mut campaign_keys: Vec<&Named> = d.dims(metric::ISSUED).iter().collect();
    for n in d.dims(metric::REDEEMED) {
        if !campaign_keys.iter().any(|k| k.key == n.key) {
            campaign_keys.push(n);
        }
    }
    let issued_by = by(metric::ISSUED);
    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    let loyalty = Section {
        id: "loyalty",
        title: t("dash.loyalty"),
        tables: vec![
            Table {
                id: "loyalty",
                caption: t("dash.coupons_by_period"),
                head: vec![
                    t("dash.period"),
                    t("dash.issued"),
                    t("dash.opened"),
                    t("dash.redeemed"),
                ],
                rows: d
                    .buckets
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        vec![
                            Cell::text(row_label(b)),
                            Cell::int(issued[i]),
                            Cell::int(opened[i]),
                            Cell::int(redeemed[i]),
                        ]
                    })
                    .collect(),
                charts: vec![chart(
                    lang,
                    &t("dash.coupons"),
                    &labels,
                    &[
                        (&t("dash.issued"), &issued),
                        (&t("dash.redeemed"), &redeemed),
                    ],
                    Kind::Bars,
                )],
            },
            Table {
                id: "campaigns",
                caption: t("dash.funnel_by_campaign"),
                head: vec![
                    t("dash.campaign"),
                    t("dash.issued"),
                    t("dash.opened"),
                    t("dash.redeemed"),
                    t("dash.redeemed_share"),
                ],
                rows: campaign_keys
                    .iter()
                    .map(|n| {
                        let k = n.key.as_str();
                        let (i, o, r) = (
                            issued_by.get(k).copied().unwrap_or(0),
                            opened_by.get(k).copied().unwrap_or(0),
                            redeemed_by.get(k).copied().unwrap_or(0),
                        );
                        vec![
                            Cell::text(&n.name),
                            Cell::int(i),
                            Cell::int(o),
                            Cell::int(r),
                            Cell::share(r, i),
                        ]
                    })
                    .collect(),
                charts: vec![],
            },
            named_table(
                lang,
                "stores",
                &t("dash.redeemed_by_store"),
                &t("dash.store"),
                d.dims(metric::REDEEMED_STORE),
            ),
            named_table(
                lang,
                "cashiers",
                &t("dash.redeemed_by_cashier"),
                &t("dash.cashier"),
                &d.dims(metric::REDEEMED_CASHIER)
                    .iter()
                    .map(|n| Named {
                        name: if n.key.is_empty() {
                            t("dash.api")
                        } else {
                            n.name.clone()
                        },
                        ..n.clone()
                    })
                    .collect::<Vec<_>>(),
            ),
            Table {
                id: "hours",
                caption: t("dash.redeemed_by_hour"),
                head: vec![t("dash.hour"), t("dash.redeemed")],
                rows: hours
                    .iter()
                    .zip(d.by_hour)
                    .map(|(h, n)| vec![Cell::text(format!("{h}:00")), Cell::int(n)])
                    .collect(),
                charts: vec![chart(
                    lang,
                    &t("dash.redeemed_by_hour"),
                    &hours,
                    &[(&t("dash.redeemed"), &d.by_hour)],
                    Kind::Bars,
                )],
            },
            named_table(
                lang,
                "points",
                &t("dash.points_by_kind"),
                &t("dash.points_kind"),
                &d.dims(metric::POINTS)
                    .iter()
                    .map(|n| Named {
                        name: lang.t(&format!("points.kind_{}", n.key)).to_string(),
                        ..n.clone()
                    })
                    .collect::<Vec<_>>(),
            ),
            named_table(
                lang,
                "stamps",
                &t("dash.cards_completed"),
                &t("dash.stamp_card"),
                d.dims(metric::CARDS_COMPLETED),
            ),
        ],
    };

    // Broadcasts.
    let broadcasts = Section {
        id: "broadcasts",
        title: t("dash.broadcasts"),
        tables: vec![Table {
            id: "broadcasts",
            caption: t("dash.broadcasts_sent"),
            head: vec![
                t("dash.broadcast"),
                t("dash.started"),
                t("dash.recipients"),
                t("dash.sent"),
                t("dash.filtered"),
                t("dash.errors"),
                t("dash.coupons_issued"),
                t("dash.coupons_redeemed"),
            ],
            rows: d
                .broadcasts
                .iter()
                .map(|b| {
                    vec![
                        Cell::text(&b.title),
                        Cell::text(crate::format::local(&b.started_at, tz)),
                        Cell::int(b.recipients.unwrap_or(0)),
                        Cell::int(b.sent),
                        Cell::int(b.filtered),
                        Cell::int(b.errors),
                        Cell::int(b.coupons_issued),
                        Cell::int(b.coupons_redeemed),
                    ]
                })
                .collect(),
            charts: vec![],
        }],
    };

    // Money.
    let payments = d.series(metric::PAYMENTS);
    let paid = d.series(metric::PAYMENTS_FEN);
    let refunds = d.series(metric::REFUNDS_FEN);
    let attributed = d.series(metric::ATTRIBUTED_FEN);
    let paid_yuan: Vec<i64> = paid.iter().map(|f| f / 100).collect();
    let money = Section {
        id: "money",
        title: t("dash.money"),
        tables: vec![
            Table {
                id: "money",
                caption: t("dash.money_by_period"),
                head: vec![
                    t("dash.period"),
                    t("dash.payments"),
                    t("dash.revenue"),
                    t("dash.refunds"),
                    t("dash.attributed"),
                ],
                rows: d
                    .buckets
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        vec![
                            Cell::text(row_label(b)),
                            Cell::int(payments[i]),
                            Cell::yuan(paid[i]),
                            Cell::yuan(refunds[i]),
                            Cell::yuan(attributed[i]),
                        ]
                    })
                    .collect(),
                charts: vec![chart(
                    lang,
                    &t("dash.revenue_yuan"),
                    &labels,
                    &[(&t("dash.revenue_yuan"), &paid_yuan)],
                    Kind::Bars,
                )],
            },
            Table {
                id: "reconciliation",
                caption: t("dash.reconciliation_by_day"),
                head: vec![
                    t("dash.bill_date"),
                    t("dash.runs"),
                    t("dash.summary"),
                    t("dash.open_exceptions"),
                ],
                rows: d
                    .reconciliation
                    .iter()
                    .map(|r| {
                        vec![
                            Cell::text(r.bill_date.to_string()),
                            Cell::int(r.runs),
                            Cell::text(if r.summary_ok {
                                t("dash.summary_ok")
                            } else {
                                t("dash.summary_off")
                            }),
                            Cell::int(r.open),
                        ]
                    })
                    .collect(),
                charts: vec![],
            },
        ],
    };

    let (msgs, ans) = (d.total(metric::MESSAGES), d.total(metric::ANSWERED));
    let share = |a: i64, m: i64| if m > 0 { a * 100 / m } else { 0 };
    let mut answered_tile = tile(
        &t("dash.answered_share"),
        (share(ans.0, msgs.0), share(ans.1, msgs.1)),
        false,
    );
    answered_tile.value.push('%');
    answered_tile.before.push('%');
    answered_tile.change = None;
    let mut tiles = vec![
        tile(&t("dash.net"), net_total, false),
        tile(&t("dash.follows"), fol, false),
        tile(&t("dash.unfollows"), unf, false),
        tile(&t("dash.messages"), msgs, false),
        answered_tile,
        tile(&t("dash.redeemed"), d.total(metric::REDEEMED), false),
        tile(&t("dash.revenue"), d.total(metric::PAYMENTS_FEN), true),
    ];
    if let Some(n) = d.followers_now {
        tiles.insert(
            0,
            Tile {
                label: t("dash.followers_now"),
                value: crate::format::grouped(n),
                change: None,
                before: String::new(),
            },
        );
    }
    if let Some(n) = d.reachable_now {
        tiles.insert(
            1,
            Tile {
                label: t("dash.reachable_now"),
                value: crate::format::grouped(n),
                change: None,
                before: String::new(),
            },
        );
    }
    Figures {
        period: d.period,
        previous: d.previous,
        step: d.step,
        tiles,
        sections: vec![audience, engagement, loyalty, broadcasts, money],
        empty: d.rolled_at.is_none(),
        updated: d.rolled_at,
    }
}

/// A table as CSV (the raw values: numbers without grouping, yuan with two decimals).
pub fn csv(table: &Table) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&table.head)?;
    for row in &table.rows {
        w.write_record(row.iter().map(|c| c.raw.as_str()))?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}
