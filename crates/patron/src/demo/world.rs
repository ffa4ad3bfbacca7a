//! The demo's three merchants as data: their stores, QR codes, campaigns, reply rules,
//! menus, points programs and how their customers behave. Nothing here touches a
//! database; `seed` writes it through the real write paths and `history` makes the
//! customers act.

/// The agency that holds the demo's merchant accounts.
pub const AGENCY: &str = "Patron 演示代理 Demo Agency";
/// The agency administrator's address (the account the demo signs in with).
pub const ADMIN_EMAIL: &str = "admin@demo.patron.example";
pub const ADMIN_NAME: &str = "演示管理员 Demo Admin";

/// A store and the cashier who works its till.
pub struct Store {
    pub name: &'static str,
    pub address: &'static str,
    /// The scene of the QR code on its tables (a follow through it is attributed here).
    pub scene: &'static str,
    pub cashier_email: &'static str,
    pub cashier_name: &'static str,
    /// Its share of the merchant's traffic.
    pub weight: f64,
}

/// A QR code that is not a store's: a poster, a cup sleeve.
pub struct Poster {
    pub scene: &'static str,
    pub label: &'static str,
    /// Its share of follows through QR codes outside the campaign spike.
    pub weight: f64,
    /// It carries the spike campaign's coupon and is where the spike's followers come from.
    pub spike: bool,
}

#[derive(Clone, Copy)]
pub enum Gives {
    AmountOff(i64),
    /// Percent off, capped (fen).
    PercentOff(i64, i64),
    Gift(&'static str),
}

pub struct Campaign {
    pub name: &'static str,
    pub gives: Gives,
    pub min_spend_fen: i64,
    /// Coupons are valid this many days from issue.
    pub valid_days: i64,
    pub code_prefix: &'static str,
    pub terms: &'static str,
    /// The campaign of the spike: it runs for the spike's week and then ends.
    pub spike: bool,
    /// Issued by hand (goodwill), not by a rule or a QR code.
    pub manual: bool,
}

/// How a keyword rule matches.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Exact,
    Contains,
}

/// A keyword reply rule, and how often followers write it.
pub struct Keyword {
    pub matching: Match,
    pub word: &'static str,
    /// Further spellings followers use (each matches the rule).
    pub also: &'static [&'static str],
    pub reply: &'static str,
    /// The index of a campaign (in [`Merchant::campaigns`]) whose coupon it issues.
    pub campaign: Option<usize>,
    pub weight: f64,
    /// Only during the spike's week (its rule is active then).
    pub spike_only: bool,
}

/// A menu button that sends a click, and its reply.
pub struct Click {
    pub label: &'static str,
    pub key: &'static str,
    pub reply: &'static str,
    pub weight: f64,
}

pub struct Merchant {
    pub slug: &'static str,
    pub name: &'static str,
    /// subscription, verified_subscription or service.
    pub account_kind: &'static str,
    pub appid: &'static str,
    pub original_id: &'static str,
    /// WeChat Pay merchant id.
    pub mch_id: &'static str,
    /// Prefix of its followers' OpenIDs (WeChat's are per account).
    pub openid_prefix: &'static str,
    /// Prefix of its till order references.
    pub order_prefix: &'static str,
    pub stores: Vec<Store>,
    pub posters: Vec<Poster>,
    /// New followers a day at the end of the period, on an ordinary weekday.
    pub follows_per_day: f64,
    /// Share of new followers who come through a QR code.
    pub qr_share: f64,
    /// When customers come in, by local hour.
    pub visit_hours: [u32; 24],
    /// A basket, in fen (low, high).
    pub basket_fen: (i64, i64),
    pub welcome: &'static str,
    /// The welcome's coupon (a campaign index), issued to every new follower.
    pub welcome_campaign: Option<usize>,
    pub default_reply: &'static str,
    pub keywords: Vec<Keyword>,
    pub clicks: Vec<Click>,
    /// A menu button that opens a page.
    pub view: (&'static str, &'static str),
    /// Texts no keyword answers (the default rule does).
    pub chatter: &'static [&'static str],
    pub campaigns: Vec<Campaign>,
    pub subscribe_points: i64,
    pub checkin_word: &'static str,
    pub checkin_points: i64,
    pub points_per_yuan: i64,
    /// What followers spend points on at the till: (points, reason).
    pub reward: (i64, &'static str),
    /// Merchant admin (email, name).
    pub manager: (&'static str, &'static str),
    /// Days (before today) it sent a broadcast from WeChat's own console.
    pub console_sends: &'static [(u32, &'static str)],
    /// A broadcast drafted in Patron and scheduled a few minutes after the seed.
    pub upcoming: Option<(&'static str, &'static str)>,
}

/// When followers use their phones, by local hour (messages, clicks, follows at home).
pub const PHONE_HOURS: [u32; 24] = [
    2, 1, 0, 0, 0, 0, 1, 3, 5, 5, 5, 5, 7, 6, 5, 5, 5, 5, 6, 8, 9, 9, 7, 4,
];

pub fn merchants() -> Vec<Merchant> {
    vec![coffee(), bakery(), noodles()]
}

fn coffee() -> Merchant {
    Merchant {
        slug: "dawn-coffee",
        name: "晨光咖啡 Dawn Coffee",
        account_kind: "service",
        appid: "wxd0c0ffee20260101",
        original_id: "gh_d0c0ffee2026",
        mch_id: "1900012301",
        openid_prefix: "oDawn",
        order_prefix: "DC",
        stores: vec![
            Store {
                name: "静安店 Jing'an",
                address: "上海市静安区南京西路 1266 号",
                scene: "store-jingan",
                cashier_email: "jingan@dawn-coffee.example",
                cashier_name: "王芳 Wang Fang",
                weight: 0.45,
            },
            Store {
                name: "徐汇店 Xuhui",
                address: "上海市徐汇区衡山路 8 号",
                scene: "store-xuhui",
                cashier_email: "xuhui@dawn-coffee.example",
                cashier_name: "李强 Li Qiang",
                weight: 0.33,
            },
            Store {
                name: "浦东店 Pudong",
                address: "上海市浦东新区世纪大道 100 号",
                scene: "store-pudong",
                cashier_email: "pudong@dawn-coffee.example",
                cashier_name: "陈静 Chen Jing",
                weight: 0.22,
            },
        ],
        posters: vec![
            Poster {
                scene: "cup-sleeve",
                label: "杯套二维码 Cup sleeve",
                weight: 0.25,
                spike: false,
            },
            Poster {
                scene: "anniversary-poster",
                label: "周年庆海报 Anniversary poster",
                weight: 0.0,
                spike: true,
            },
        ],
        follows_per_day: 20.0,
        qr_share: 0.72,
        visit_hours: [
            0, 0, 0, 0, 0, 0, 1, 6, 11, 9, 6, 5, 8, 7, 5, 6, 6, 5, 4, 3, 2, 1, 0, 0,
        ],
        basket_fen: (2200, 9800),
        welcome: "欢迎来到晨光咖啡 ☕ Welcome to Dawn Coffee!\n新人礼：第二杯半价券已放进您的卡包 {link}\n回复「菜单」看今日饮品，回复「签到」每天领积分。",
        welcome_campaign: Some(0),
        default_reply: "收到啦，咖啡师会尽快回复您 🙂 Thanks, a barista will get back to you soon.",
        keywords: vec![
            Keyword {
                matching: Match::Contains,
                word: "菜单",
                also: &["menu", "Menu", "今日菜单"],
                reply: "今日推荐：桂花拿铁 ¥32 · 冷萃 ¥28 · 燕麦馥芮白 ¥30。Today: osmanthus latte, cold brew, oat flat white.",
                campaign: None,
                weight: 5.0,
                spike_only: false,
            },
            Keyword {
                matching: Match::Contains,
                word: "营业时间",
                also: &["hours", "几点开门"],
                reply: "三家门店每天 7:30–21:00 营业（周末至 22:00）。All stores 7:30–21:00, weekends until 22:00.",
                campaign: None,
                weight: 2.0,
                spike_only: false,
            },
            Keyword {
                matching: Match::Exact,
                word: "优惠券",
                also: &["coupon", "Coupon"],
                reply: "您的优惠券都在这里 Your coupons: {link}",
                campaign: None,
                weight: 2.5,
                spike_only: false,
            },
            Keyword {
                matching: Match::Contains,
                word: "周年庆",
                also: &["anniversary"],
                reply: "周年庆快乐 🎉 买一送一券已发放，7 天内到店使用！Anniversary: a buy-one-get-one coupon is yours for 7 days: {link}",
                campaign: Some(2),
                weight: 0.0,
                spike_only: true,
            },
            Keyword {
                matching: Match::Contains,
                word: "wifi",
                also: &["WiFi", "密码"],
                reply: "Wi-Fi：DawnCoffee，密码 morning2026",
                campaign: None,
                weight: 1.5,
                spike_only: false,
            },
        ],
        clicks: vec![
            Click {
                label: "今日菜单",
                key: "MENU_TODAY",
                reply: "今日推荐：桂花拿铁 ¥32 · 冷萃 ¥28 · 燕麦馥芮白 ¥30",
                weight: 4.0,
            },
            Click {
                label: "门店地址",
                key: "STORES",
                reply: "静安店：南京西路 1266 号\n徐汇店：衡山路 8 号\n浦东店：世纪大道 100 号",
                weight: 2.5,
            },
            Click {
                label: "我的积分",
                key: "MY_POINTS",
                reply: "您的积分和优惠券 Your points and coupons: {link}",
                weight: 3.0,
            },
        ],
        view: ("点单小程序", "https://dawn-coffee.example/order"),
        chatter: &[
            "今天有燕麦奶吗",
            "可以外带吗",
            "请问可以开发票吗",
            "do you have decaf?",
            "拿铁太好喝了",
            "周末人多吗",
            "可以预约包场吗",
            "thanks!",
        ],
        campaigns: vec![
            Campaign {
                name: "新人礼：第二杯半价 Welcome: 2nd cup half price",
                gives: Gives::PercentOff(50, 1800),
                min_spend_fen: 3000,
                valid_days: 14,
                code_prefix: "DW",
                terms: "第二杯半价，最高减 18 元。Second cup half price, up to ¥18 off.",
                spike: false,
                manual: false,
            },
            Campaign {
                name: "店长心意：免费美式 Manager's treat: free americano",
                gives: Gives::Gift("美式咖啡一杯 One americano"),
                min_spend_fen: 0,
                valid_days: 30,
                code_prefix: "DT",
                terms: "店长赠送，任一门店可用。",
                spike: false,
                manual: true,
            },
            Campaign {
                name: "三周年庆：买一送一 Anniversary: buy one get one",
                gives: Gives::AmountOff(3200),
                min_spend_fen: 6000,
                valid_days: 7,
                code_prefix: "DA",
                terms: "满 60 元减 32 元，周年庆期间关注即得。",
                spike: true,
                manual: false,
            },
        ],
        subscribe_points: 50,
        checkin_word: "签到",
        checkin_points: 5,
        points_per_yuan: 1,
        reward: (300, "积分兑换：免费拿铁 Points: free latte"),
        manager: ("manager@dawn-coffee.example", "赵敏 Zhao Min"),
        console_sends: &[
            (83, "九月新品预告（公众号后台群发）"),
            (69, "中秋礼盒预售"),
            (55, "秋季限定上市"),
            (41, "会员日提醒"),
            (30, "三周年庆开幕"),
            (17, "冬季菜单"),
            (4, "圣诞特饮预告"),
        ],
        upcoming: Some((
            "周末新品：桂花拿铁 Weekend: osmanthus latte",
            "本周末起，三家门店上新桂花拿铁 ☕ 出示会员码再享积分双倍！This weekend: osmanthus latte at all three stores, double points with your member code.",
        )),
    }
}

fn bakery() -> Merchant {
    Merchant {
        slug: "wheat-bakery",
        name: "麦香烘焙 Wheat & Co. Bakery",
        account_kind: "subscription",
        appid: "wxb0a7e12026010202",
        original_id: "gh_b0a7e1202602",
        mch_id: "1900012302",
        openid_prefix: "oWhet",
        order_prefix: "WB",
        stores: vec![Store {
            name: "愚园路店 Yuyuan Rd",
            address: "上海市长宁区愚园路 1088 号",
            scene: "store-yuyuan",
            cashier_email: "till@wheat-bakery.example",
            cashier_name: "周婷 Zhou Ting",
            weight: 1.0,
        }],
        posters: vec![Poster {
            scene: "bread-bag",
            label: "面包袋二维码 Bread bag",
            weight: 0.6,
            spike: false,
        }],
        follows_per_day: 8.0,
        qr_share: 0.8,
        visit_hours: [
            0, 0, 0, 0, 0, 0, 1, 5, 8, 6, 5, 5, 5, 4, 4, 5, 7, 9, 8, 5, 3, 1, 0, 0,
        ],
        basket_fen: (1500, 6800),
        welcome: "欢迎关注麦香烘焙 🥐 新人礼：满 30 减 5 元券已到账 {link}\n每天 16:00 新鲜出炉。回复「新品」看本周面包，回复「打卡」领积分。",
        welcome_campaign: Some(1),
        default_reply: "谢谢留言，我们会尽快回复您。Thanks for your message!",
        keywords: vec![
            Keyword {
                matching: Match::Contains,
                word: "新品",
                also: &["new", "本周"],
                reply: "本周新品：黑麦酸种、开心果可颂、伯爵茶司康。This week: rye sourdough, pistachio croissant, earl grey scones.",
                campaign: None,
                weight: 4.0,
                spike_only: false,
            },
            Keyword {
                matching: Match::Contains,
                word: "预订",
                also: &["蛋糕", "cake", "生日"],
                reply: "生日蛋糕请提前 2 天预订：电话 021-5555 0101，或到店登记。Cakes: order two days ahead.",
                campaign: Some(0),
                weight: 2.0,
                spike_only: false,
            },
            Keyword {
                matching: Match::Exact,
                word: "券",
                also: &["coupon"],
                reply: "您的优惠券 Your coupons: {link}",
                campaign: None,
                weight: 1.0,
                spike_only: false,
            },
        ],
        clicks: vec![
            Click {
                label: "出炉时间",
                key: "BAKE_TIMES",
                reply: "欧包 8:00 · 可颂 10:00 · 吐司 16:00 出炉",
                weight: 3.0,
            },
            Click {
                label: "会员中心",
                key: "MEMBER",
                reply: "积分与优惠券 Points and coupons: {link}",
                weight: 2.0,
            },
        ],
        view: ("关于我们", "https://wheat-bakery.example/about"),
        chatter: &[
            "今天还有可颂吗",
            "可以切片吗",
            "有无糖的面包吗",
            "好吃！",
            "gluten free?",
        ],
        campaigns: vec![Campaign {
            name: "蛋糕预订立减 20 元 ¥20 off cakes",
            gives: Gives::AmountOff(2000),
            min_spend_fen: 15000,
            valid_days: 21,
            code_prefix: "WC",
            terms: "预订生日蛋糕满 150 元可用。",
            spike: false,
            manual: false,
        },
        Campaign {
            name: "新人礼：满 30 减 5 Welcome: ¥5 off ¥30",
            gives: Gives::AmountOff(500),
            min_spend_fen: 3000,
            valid_days: 14,
            code_prefix: "WW",
            terms: "关注即得，满 30 元可用。",
            spike: false,
            manual: false,
        }],
        subscribe_points: 20,
        checkin_word: "打卡",
        checkin_points: 2,
        points_per_yuan: 1,
        reward: (150, "积分兑换：可颂一个 Points: a croissant"),
        manager: ("owner@wheat-bakery.example", "孙悦 Sun Yue"),
        console_sends: &[
            (82, "本周新品"),
            (75, "本周新品"),
            (68, "本周新品"),
            (61, "本周新品"),
            (54, "本周新品"),
            (47, "本周新品"),
            (40, "本周新品"),
            (33, "本周新品"),
            (26, "本周新品"),
            (19, "本周新品"),
            (12, "本周新品"),
            (5, "本周新品"),
        ],
        upcoming: None,
    }
}

fn noodles() -> Merchant {
    Merchant {
        slug: "old-street-noodles",
        name: "老街面馆 Old Street Noodles",
        account_kind: "verified_subscription",
        appid: "wx00d1e5a020260103",
        original_id: "gh_00d1e5a02603",
        mch_id: "1900012303",
        openid_prefix: "oNood",
        order_prefix: "ON",
        stores: vec![
            Store {
                name: "老街总店 Main St",
                address: "上海市黄浦区方浜中路 255 号",
                scene: "store-main",
                cashier_email: "main@old-street-noodles.example",
                cashier_name: "刘洋 Liu Yang",
                weight: 0.65,
            },
            Store {
                name: "五角场店 Wujiaochang",
                address: "上海市杨浦区淞沪路 77 号",
                scene: "store-wujiaochang",
                cashier_email: "wjc@old-street-noodles.example",
                cashier_name: "黄磊 Huang Lei",
                weight: 0.35,
            },
        ],
        posters: vec![],
        follows_per_day: 5.0,
        qr_share: 0.85,
        visit_hours: [
            0, 0, 0, 0, 0, 0, 1, 2, 3, 3, 5, 10, 13, 6, 3, 2, 3, 6, 10, 9, 6, 4, 2, 1,
        ],
        basket_fen: (1800, 5200),
        welcome: "欢迎光临老街面馆 🍜 扫码点单更快。回复「排队」看门店排队情况。",
        welcome_campaign: Some(0),
        default_reply: "收到，谢谢！We got your message.",
        keywords: vec![
            Keyword {
                matching: Match::Contains,
                word: "排队",
                also: &["等位", "queue"],
                reply: "现在总店约等 10 分钟，五角场店无需排队。Main St: about 10 minutes; Wujiaochang: no wait.",
                campaign: None,
                weight: 3.0,
                spike_only: false,
            },
            Keyword {
                matching: Match::Contains,
                word: "外卖",
                also: &["delivery"],
                reply: "外卖请在美团或饿了么搜索「老街面馆」。Delivery via Meituan or Ele.me.",
                campaign: None,
                weight: 1.5,
                spike_only: false,
            },
        ],
        clicks: vec![Click {
            label: "招牌面",
            key: "SIGNATURE",
            reply: "招牌：葱油拌面 ¥18 · 大排面 ¥32 · 黄鱼面 ¥48",
            weight: 3.0,
        }],
        view: ("扫码点单", "https://old-street-noodles.example/order"),
        chatter: &["辣度可以调吗", "有素面吗", "好吃", "几点关门"],
        campaigns: vec![Campaign {
            name: "关注送卤蛋 Follow gift: braised egg",
            gives: Gives::Gift("卤蛋一个 A braised egg"),
            min_spend_fen: 0,
            valid_days: 30,
            code_prefix: "NE",
            terms: "堂食任意面条可用。",
            spike: false,
            manual: false,
        }],
        subscribe_points: 10,
        checkin_word: "",
        checkin_points: 0,
        points_per_yuan: 2,
        reward: (200, "积分兑换：大排一块 Points: a pork chop"),
        manager: ("boss@old-street-noodles.example", "马建国 Ma Jianguo"),
        console_sends: &[(60, "冬至饺子节"), (25, "新店五角场开业一月")],
        upcoming: None,
    }
}
