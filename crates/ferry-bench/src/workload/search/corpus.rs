//! The corpus of `search`: who talks with whom, and the text of every
//! message, generated from a fixed seed so that message *i* is the same in
//! every run and can be regenerated from *i* alone ([`Corpus::message`]).
//! The run checks answers against it: which conversations the searcher is
//! in, which messages contain a term, where the needles were planted.
//!
//! - Conversations: direct pairs among the shared bench users, groups among
//!   them, and the searcher's own direct conversations and groups. How
//!   often each one is written to follows a Zipf law over a shuffled rank
//!   (exponent [`CONV_ZIPF`]), so a few are busy and most are quiet.
//! - Lines: about 60 bytes, half Chinese (words of a vocabulary glued
//!   together, with punctuation), half English (words separated by
//!   spaces). Both vocabularies start with real common words and go on
//!   with generated ones; word frequencies follow a Zipf law (exponent 1,
//!   as in natural language), so some terms are in a fifth of all lines
//!   and most in almost none. A few in a thousand messages are files with
//!   Chinese names.
//! - Topics: every conversation has one of [`TOPICS`] topics, whose words
//!   (`q…`, never a prefix of any other word) appear in 40% of its lines.
//!   The searcher's conversations only have the first half of the topics,
//!   so a word of the second half is common on the server and absent from
//!   everything the searcher can see.
//! - Needles: unique rare tokens (3-4 rare Chinese characters, or English
//!   words starting with `zx`, which no other word does), each planted in
//!   1-6 messages of the searcher's conversations and 0-2 of conversations
//!   the searcher is not in; decoys only in the latter. Planted messages are
//!   spread evenly over the message indexes, so after the log merges some
//!   are in the index and some still in the log.

use std::collections::{HashMap, HashSet};

use crate::engine::splitmix64;

/// Changes whenever the generated corpus changes; a state file made with
/// another version is not reused.
pub(super) const VERSION: u32 = 1;

const SEED: u64 = 0x5ea2_c4b0_0f3e_7a11;
/// Independent random streams.
const STRUCTURE: u64 = 1;
const VOCABULARY: u64 = 2;
const MESSAGE: u64 = 3;
const NEEDLES: u64 = 4;
const RANKS: u64 = 5;

/// Zipf exponent of word frequencies.
const WORD_ZIPF: f64 = 1.0;
/// Zipf exponent of conversation activity.
const CONV_ZIPF: f64 = 0.7;
/// Share of lines in Chinese (the rest are English).
const ZH_SHARE: f64 = 0.5;
/// Share of messages that are files.
const FILE_SHARE: f64 = 0.005;
/// Share of lines that carry a word of their conversation's topic.
pub(super) const TOPIC_SHARE: f64 = 0.4;
/// Topics; the searcher's conversations have the first half only.
pub(super) const TOPICS: usize = 12;
/// Words per topic, and their relative frequency.
const TOPIC_WEIGHTS: [f64; 3] = [0.5, 0.3, 0.2];
const EN_VOCABULARY: usize = 4000;
const ZH_VOCABULARY: usize = 3000;
/// A line is cut once it has this many bytes (English) or a third as many
/// characters (Chinese, 3 bytes each in UTF-8): about 60 bytes, as the
/// other workloads send.
const LINE_BYTES: usize = 56;
/// Planted messages per needle in the searcher's conversations (1 up to
/// this) and in conversations the searcher is not in (0 up to this - 1;
/// decoys 1 up to this).
const VISIBLE_PLANTS: usize = 6;
const HIDDEN_PLANTS: usize = 3;

/// Common English words, most frequent first: the head of the vocabulary.
/// None starts with `q` (topic words) or `zx` (needles).
const EN_HEAD: &[&str] = &[
    "i", "you", "the", "to", "ok", "a", "it", "and", "is", "that", "we", "can", "do", "for", "this", "on", "in",
    "have", "will", "be", "at", "me", "so", "what", "no", "yes", "just", "get", "not", "with", "are", "my", "know",
    "if", "meeting", "today", "tomorrow", "please", "thanks", "now", "see", "time", "need", "think", "good", "go",
    "one", "about", "there", "up", "call", "send", "check", "did", "all", "from", "was", "how", "when", "done", "back",
    "let", "sure", "also", "right", "later", "project", "team", "update", "work", "sorry", "but", "great", "file",
    "review", "client", "code", "test", "deploy", "release", "fix", "bug", "issue", "plan", "report", "data", "server",
    "lunch", "week", "morning", "tonight", "soon", "ready", "yeah", "nice", "cool", "maybe", "still", "yet", "any",
    "some", "new", "more", "status", "problem", "branch", "build", "draft", "budget", "deadline", "doc", "schedule",
    "slides", "sprint", "ticket", "design", "numbers", "weekend", "invoice", "contract", "customer", "office", "train",
    "flight", "hotel", "dinner", "coffee",
];

/// Common Chinese words, most frequent first: the head of the vocabulary.
const ZH_HEAD: &[&str] = &[
    "我们",
    "今天",
    "可以",
    "一下",
    "没有",
    "什么",
    "这个",
    "明天",
    "时间",
    "问题",
    "知道",
    "需要",
    "好的",
    "工作",
    "项目",
    "客户",
    "已经",
    "现在",
    "然后",
    "还是",
    "因为",
    "所以",
    "如果",
    "大家",
    "数据",
    "系统",
    "测试",
    "上线",
    "开会",
    "方案",
    "老板",
    "同事",
    "周末",
    "晚上",
    "中午",
    "吃饭",
    "下班",
    "加班",
    "文件",
    "发给",
    "看看",
    "确认",
    "安排",
    "进度",
    "计划",
    "产品",
    "设计",
    "需求",
    "版本",
    "修改",
    "更新",
    "部署",
    "服务器",
    "接口",
    "代码",
    "会议",
    "讨论",
    "总结",
    "合同",
    "签字",
    "审批",
    "流程",
    "通知",
    "提醒",
    "记得",
    "谢谢",
    "收到",
    "辛苦",
    "麻烦",
    "马上",
    "稍等",
    "一起",
    "下午",
    "上午",
    "昨天",
    "后天",
    "下周",
    "本周",
    "月底",
    "目标",
    "结果",
    "效果",
    "用户",
    "反馈",
    "体验",
    "优化",
    "性能",
    "速度",
    "质量",
    "风险",
    "成本",
    "价格",
    "市场",
    "销售",
    "渠道",
    "推广",
    "活动",
    "团队",
    "经理",
    "领导",
    "培训",
    "面试",
    "招聘",
    "入职",
    "请假",
    "出差",
    "报销",
    "发票",
    "快递",
    "地址",
    "电话",
    "邮件",
    "群里",
    "链接",
    "图片",
    "视频",
    "截图",
    "文档",
    "表格",
    "资料",
    "密码",
    "账号",
    "权限",
    "登录",
    "注册",
    "支付",
    "订单",
    "退款",
    "库存",
    "发货",
];

/// Common characters the generated Chinese words are made of (most
/// frequent first).
const ZH_POOL: &str = "的一是了不在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里\
用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开但因只从想实日者意无力它与长把机十\
民第公此已工使情明性知全三又关点正业外将两高间由问很最重并物手应向头文体政美相见被利什二等产或新己制身果加西月话合回特代内\
信表化老给世位次度门任常先海通教儿原东声提立及比员解水名真论处走义各入几口认条平系气题活更别打女变四神总何电数安少报才结反\
受目太量再感建务做接必场件计管期市直资命山金指许统区保至队形社便空决治展科司五基眼书非则听白却界达光放强即像难且权思王象完\
设式色路记南品住告类求据程北边死张该交规万取拉格望觉术领共确传师观清今切院让识候带导争运笑飞风步改收根干造言联持组每济车亲\
极林服快办议往元士证近失转夫令准布始怎呢存未远叫台单影具罗字爱击流备兵连调深商算质团集百需价花华城石级整府离况请技际约示复";

/// Rare characters that needles are made of: none is in [`ZH_POOL`],
/// [`ZH_HEAD`], the file names or the group names.
const RARE: &str = "龘靐齉麤鱻爨驫龖厵灥猋羴犇骉垚淼焱蠡夔饕餮魑魅魍魉鬻黉";

/// Parts of file names: `<unit><year>年<period><document>.<ext>`.
const FILE_UNITS: &[&str] = &["华东区", "市场部", "产品组", "研发中心", "客服部", "财务部", "北京分公司", "上海项目"];
const FILE_PERIODS: &[&str] =
    &["第一季度", "第二季度", "第三季度", "第四季度", "上半年", "下半年", "一月", "六月", "十二月"];
const FILE_DOCS: &[&str] = &["报告", "方案", "合同", "会议纪要", "预算表", "设计稿", "需求文档", "测试用例"];
const FILE_TYPES: &[(&str, &str)] = &[
    ("pdf", "application/pdf"),
    ("docx", "application/msword"),
    ("xlsx", "application/vnd.ms-excel"),
    ("pptx", "application/vnd.ms-powerpoint"),
];

/// Names of the searcher's groups (a number is appended); some contain
/// common words, so first pages also list groups.
const SEARCHER_GROUP_NAMES: &[&str] = &[
    "项目讨论群",
    "产品需求评审",
    "测试上线",
    "周末吃饭",
    "客户对接",
    "数据平台",
    "前端小组",
    "后端小组",
    "市场活动",
    "年会筹备",
    "读书会",
    "家人群",
];

/// How lines end.
const EN_ENDS: [&str; 5] = ["", "", "?", "!", "."];
const ZH_ENDS: [&str; 5] = ["", "。", "？", "！", "。"];

/// Letters of generated English words (no q, x or z: topic words start
/// with `q`, needles with `zx`).
const CONSONANTS: &[u8] = b"bcdfghjklmnprstvw";
const VOWELS: &[u8] = b"aeiou";

/// How big the population is for a corpus of `m` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    /// Shared bench users (the searcher is extra).
    pub users: usize,
    /// Direct conversations among the shared users.
    pub directs: usize,
    /// Groups among the shared users (the searcher in none).
    pub groups: usize,
    pub searcher_directs: usize,
    pub searcher_groups: usize,
    /// Needles per language that the searcher can find, and decoys.
    pub needles: usize,
    pub decoys: usize,
}

impl Shape {
    /// The same population from 100,000 messages up (so sizes compare);
    /// smaller for the tests.
    pub(super) fn for_messages(m: u64) -> Self {
        let users = (m / 100).clamp(8, 1000) as usize;
        let needles = (m / 2000).clamp(3, 48) as usize;
        Self {
            users,
            directs: users * 4,
            groups: (users / 16).max(1),
            searcher_directs: (users * 3 / 20).max(3),
            searcher_groups: (users / 80).max(1),
            needles,
            decoys: (needles / 4).max(1),
        }
    }
}

/// One conversation. Participants are indexes into the shared users; the
/// searcher is participant `shape.users`.
#[derive(Debug, Clone)]
pub(super) struct Conv {
    /// Owner first for groups; the two sides for direct conversations.
    pub members: Vec<usize>,
    /// The index among the groups (their ids come from the server).
    pub group: Option<usize>,
    /// The searcher is in it.
    pub searcher: bool,
    pub topic: usize,
    /// Group name.
    pub name: String,
}

/// A needle: a unique rare token and the query that finds it.
#[derive(Debug, Clone)]
pub(super) struct Needle {
    pub zh: bool,
    /// As planted (English needles vary their case per message).
    pub word: String,
    pub query: String,
    /// Planted only where the searcher cannot see it.
    pub decoy: bool,
}

/// One planted message.
#[derive(Debug, Clone)]
pub(super) struct Plant {
    pub needle: usize,
    pub conv: usize,
    pub sender: usize,
    pub index: u64,
}

/// One message of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Msg {
    pub conv: usize,
    pub sender: usize,
    pub content: Content,
}

/// What a message holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Content {
    Text(String),
    File { name: String, size: i64, mime: &'static str, file_id: String, sha256: String },
}

impl Content {
    /// The text search finds it by (a file by its name).
    pub(super) fn searchable(&self) -> &str {
        match self {
            Self::Text(t) => t,
            Self::File { name, .. } => name,
        }
    }
}

/// Words and the cumulative distribution of their frequencies.
struct Vocabulary {
    words: Vec<String>,
    cdf: Vec<f64>,
}

/// The whole corpus (structure, vocabularies, needles); messages are made
/// on demand.
pub(super) struct Corpus {
    pub m: u64,
    pub shape: Shape,
    pub convs: Vec<Conv>,
    /// Cumulative activity over `convs`.
    cdf: Vec<f64>,
    en: Vocabulary,
    zh: Vocabulary,
    topics: Vec<Vec<String>>,
    pub needles: Vec<Needle>,
    pub plants: Vec<Plant>,
    plant_at: HashMap<u64, usize>,
}

/// A small deterministic generator (splitmix64 over a counter).
struct Rng(u64);

impl Rng {
    fn new(stream: u64, i: u64) -> Self {
        Self(splitmix64(SEED ^ splitmix64(stream.wrapping_mul(0xa076_1d64_78bd_642f) ^ i)))
    }

    fn next(&mut self) -> u64 {
        let out = splitmix64(self.0);
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        out
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `k` distinct numbers below `n` (all of them if `k >= n`).
    fn distinct(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut seen = HashSet::with_capacity(k);
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            let x = self.below(n);
            if seen.insert(x) {
                out.push(x);
            }
        }
        out
    }

    /// Log-uniform between `lo` and `hi` inclusive.
    fn log_uniform(&mut self, lo: usize, hi: usize) -> usize {
        let (l, h) = ((lo as f64).ln(), (hi as f64 + 1.0).ln());
        ((l + self.unit() * (h - l)).exp() as usize).clamp(lo, hi)
    }
}

/// Cumulative distribution of a Zipf law with exponent `s` over `n` ranks.
fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (0..n)
        .map(|r| {
            acc += 1.0 / ((r + 1) as f64).powf(s);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

fn sample(cdf: &[f64], u: f64) -> usize {
    cdf.partition_point(|&c| c <= u).min(cdf.len() - 1)
}

impl Vocabulary {
    fn new(words: Vec<String>) -> Self {
        let cdf = zipf_cdf(words.len(), WORD_ZIPF);
        Self { words, cdf }
    }

    fn sample(&self, rng: &mut Rng) -> &str {
        &self.words[sample(&self.cdf, rng.unit())]
    }
}

/// A generated English-looking word of `syllables` syllables.
fn pseudo_word(rng: &mut Rng, syllables: usize) -> String {
    let mut w = String::with_capacity(syllables * 2 + 1);
    for _ in 0..syllables {
        w.push(*rng.pick(CONSONANTS) as char);
        w.push(*rng.pick(VOWELS) as char);
    }
    if rng.chance(0.4) {
        w.push(*rng.pick(CONSONANTS) as char);
    }
    w
}

fn en_vocabulary(rng: &mut Rng) -> Vocabulary {
    let mut words: Vec<String> = EN_HEAD.iter().map(|w| (*w).to_owned()).collect();
    let mut seen: HashSet<String> = words.iter().cloned().collect();
    while words.len() < EN_VOCABULARY {
        let syllables = 1 + rng.below(3);
        let w = pseudo_word(rng, syllables);
        if seen.insert(w.clone()) {
            words.push(w);
        }
    }
    Vocabulary::new(words)
}

fn zh_vocabulary(rng: &mut Rng) -> Vocabulary {
    let pool: Vec<char> = ZH_POOL.chars().collect();
    let mut words: Vec<String> = ZH_HEAD.iter().map(|w| (*w).to_owned()).collect();
    let mut seen: HashSet<String> = words.iter().cloned().collect();
    while words.len() < ZH_VOCABULARY {
        let len = match rng.below(20) {
            0..=2 => 1,
            3..=16 => 2,
            _ => 3,
        };
        // Squared: characters early in the pool are used more.
        let w: String = (0..len).map(|_| pool[(rng.unit() * rng.unit() * pool.len() as f64) as usize]).collect();
        if seen.insert(w.clone()) {
            words.push(w);
        }
    }
    Vocabulary::new(words)
}

/// Topic words: `q` and syllables, none a prefix of another.
fn topic_words(rng: &mut Rng) -> Vec<Vec<String>> {
    let mut all: Vec<String> = Vec::new();
    while all.len() < TOPICS * TOPIC_WEIGHTS.len() {
        let syllables = 2 + rng.below(2);
        let w = format!("q{}", pseudo_word(rng, syllables));
        if !all.iter().any(|o| o.starts_with(&w) || w.starts_with(o.as_str())) {
            all.push(w);
        }
    }
    all.chunks(TOPIC_WEIGHTS.len()).map(<[String]>::to_vec).collect()
}

/// `n` Chinese needles and `n` English ones (the last `decoys` of each are
/// decoys): no needle is inside another.
fn needles(rng: &mut Rng, n: usize, decoys: usize) -> Vec<Needle> {
    let rare: Vec<char> = RARE.chars().collect();
    let mut out: Vec<Needle> = Vec::new();
    while out.len() < n + decoys {
        let w: String = (0..3 + rng.below(2)).map(|_| *rng.pick(&rare)).collect();
        if !out.iter().any(|o| o.word.contains(&w) || w.contains(&o.word)) {
            let decoy = out.len() >= n;
            out.push(Needle { zh: true, query: w.clone(), word: w, decoy });
        }
    }
    let mut heads = HashSet::new();
    while out.len() < 2 * (n + decoys) {
        // "zx" + 5 letters is the query; 2-3 more letters follow it in the word.
        let head = format!("zx{}", &pseudo_word(rng, 3)[..5]);
        if head.len() < 7 || !heads.insert(head.clone()) {
            continue;
        }
        let j = out.len() - (n + decoys);
        let word = format!("{head}{}", pseudo_word(rng, 1));
        // Every other query is typed with a capital: the match ignores case.
        let query = if j % 2 == 1 { capitalize(&head) } else { head };
        out.push(Needle { zh: false, word, query, decoy: j >= n });
    }
    out
}

fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Whether `c` is one of the Chinese characters of the corpus (all in the
/// CJK unified block).
fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// Whether `text` matches the one-term query `term` (the corpus's own
/// check, written apart from the server's): Chinese by substring, other
/// words by prefix, ignoring case.
pub(super) fn matches(term: &str, text: &str) -> bool {
    if term.chars().all(is_han) {
        return text.contains(term);
    }
    let term = term.to_lowercase();
    text.split(|c: char| !c.is_alphanumeric() || is_han(c)).any(|w| w.to_lowercase().starts_with(&term))
}

impl Corpus {
    /// Builds the corpus of `m` messages (deterministic).
    pub(super) fn new(m: u64) -> Self {
        let shape = Shape::for_messages(m);
        let convs = conversations(&shape);
        // Activity: a Zipf law over a shuffled order of the conversations.
        let mut order: Vec<usize> = (0..convs.len()).collect();
        order.sort_by_key(|&c| splitmix64(SEED ^ RANKS ^ c as u64));
        let by_rank = zipf_cdf(convs.len(), CONV_ZIPF);
        let mut weight = vec![0.0; convs.len()];
        for (rank, &c) in order.iter().enumerate() {
            weight[c] = by_rank[rank] - if rank == 0 { 0.0 } else { by_rank[rank - 1] };
        }
        let mut acc = 0.0;
        let cdf = weight
            .iter()
            .map(|w| {
                acc += w;
                acc
            })
            .collect();
        let mut rng = Rng::new(VOCABULARY, 0);
        let (en, zh, topics) = (en_vocabulary(&mut rng), zh_vocabulary(&mut rng), topic_words(&mut rng));
        let mut rng = Rng::new(NEEDLES, 0);
        let needles = needles(&mut rng, shape.needles, shape.decoys);
        let plants = plants(&mut rng, &needles, &convs, m);
        let plant_at = plants.iter().enumerate().map(|(p, plant)| (plant.index, p)).collect();
        Self { m, shape, convs, cdf, en, zh, topics, needles, plants, plant_at }
    }

    /// The conversation of message `i` (cheaper than the whole message).
    pub(super) fn conv_of(&self, i: u64) -> usize {
        match self.plant_at.get(&i) {
            Some(&p) => self.plants[p].conv,
            None => sample(&self.cdf, Rng::new(MESSAGE, i).unit()),
        }
    }

    /// The plant at message `i`, if one is.
    #[cfg(test)]
    fn plant_at(&self, i: u64) -> Option<usize> {
        self.plant_at.get(&i).copied()
    }

    /// Message `i`.
    pub(super) fn message(&self, i: u64) -> Msg {
        let mut rng = Rng::new(MESSAGE, i);
        let u = rng.unit();
        if let Some(&p) = self.plant_at.get(&i) {
            let plant = &self.plants[p];
            let needle = &self.needles[plant.needle];
            let topic = self.convs[plant.conv].topic;
            let text = if needle.zh {
                self.zh_line(&mut rng, topic, Some(&needle.word))
            } else {
                // The case varies between the messages of one needle.
                let word = match i % 3 {
                    0 => needle.word.clone(),
                    1 => capitalize(&needle.word),
                    _ => needle.word.to_uppercase(),
                };
                self.en_line(&mut rng, topic, Some(&word))
            };
            return Msg { conv: plant.conv, sender: plant.sender, content: Content::Text(text) };
        }
        let conv = sample(&self.cdf, u);
        let c = &self.convs[conv];
        let sender = *rng.pick(&c.members);
        let content = if rng.chance(FILE_SHARE) {
            file(&mut rng)
        } else if rng.chance(ZH_SHARE) {
            Content::Text(self.zh_line(&mut rng, c.topic, None))
        } else {
            Content::Text(self.en_line(&mut rng, c.topic, None))
        };
        Msg { conv, sender, content }
    }

    fn topic_word(&self, rng: &mut Rng, topic: usize) -> &str {
        let words = &self.topics[topic];
        let mut u = rng.unit();
        for (w, p) in words.iter().zip(TOPIC_WEIGHTS) {
            if u < p {
                return w;
            }
            u -= p;
        }
        &words[0]
    }

    /// An English chat line, with `extra` (a needle) among its words.
    fn en_line(&self, rng: &mut Rng, topic: usize, extra: Option<&str>) -> String {
        let mut words: Vec<&str> = Vec::new();
        let mut len = 0;
        while len < LINE_BYTES {
            let w = self.en.sample(rng);
            len += w.len() + 1;
            words.push(w);
        }
        if rng.chance(TOPIC_SHARE) {
            let at = rng.below(words.len() + 1);
            words.insert(at, self.topic_word(rng, topic));
        }
        if let Some(x) = extra {
            let at = rng.below(words.len() + 1);
            words.insert(at, x);
        }
        let comma = (words.len() > 4 && rng.chance(0.3)).then(|| 1 + rng.below(words.len() - 2));
        let mut line = String::with_capacity(len + 16);
        for (k, w) in words.iter().enumerate() {
            if k > 0 {
                line.push(' ');
            }
            if k == 0 && rng.chance(0.5) {
                line.push_str(&capitalize(w));
            } else {
                line.push_str(w);
            }
            if comma == Some(k) {
                line.push(',');
            }
        }
        let end = *rng.pick(&EN_ENDS);
        line.push_str(end);
        line
    }

    /// A Chinese chat line, with `extra` (a needle) between two words.
    fn zh_line(&self, rng: &mut Rng, topic: usize, extra: Option<&str>) -> String {
        let mut words: Vec<&str> = Vec::new();
        let mut chars = 0;
        while chars < LINE_BYTES / 3 {
            let w = self.zh.sample(rng);
            chars += w.chars().count();
            words.push(w);
        }
        // A topic word in a Chinese line is written apart, as people type
        // English terms between Chinese words.
        let topic_word = rng.chance(TOPIC_SHARE).then(|| (rng.below(words.len() + 1), self.topic_word(rng, topic)));
        if let Some(x) = extra {
            let at = rng.below(words.len() + 1);
            words.insert(at, x);
        }
        let comma = (words.len() > 4 && rng.chance(0.5)).then(|| 1 + rng.below(words.len() - 2));
        let mut line = String::with_capacity(chars * 3 + 24);
        for (k, w) in words.iter().enumerate() {
            if let Some((at, t)) = topic_word
                && at == k
            {
                line.push(' ');
                line.push_str(t);
                line.push(' ');
            }
            line.push_str(w);
            if comma == Some(k) {
                line.push('，');
            }
        }
        if let Some((at, t)) = topic_word
            && at == words.len()
        {
            line.push(' ');
            line.push_str(t);
        }
        let end = *rng.pick(&ZH_ENDS);
        line.push_str(end);
        line.trim().to_owned()
    }

    /// Common Chinese terms (two characters), for first pages.
    pub(super) fn common_zh(&self) -> Vec<String> {
        ["项目", "明天", "问题", "数据", "客户", "测试"].map(String::from).to_vec()
    }

    /// Common English words, for first pages.
    pub(super) fn common_en(&self) -> Vec<String> {
        ["meeting", "today", "please", "project", "thanks", "review"].map(String::from).to_vec()
    }

    /// Terms with many hits, to page through.
    pub(super) fn paging_terms(&self) -> Vec<String> {
        ["我们", "time", "可以", "check"].map(String::from).to_vec()
    }

    /// Terms of file names (`kinds=file`).
    pub(super) fn file_terms(&self) -> Vec<String> {
        ["报告", "合同", "预算", "设计稿", "纪要", "需求"].map(String::from).to_vec()
    }

    /// The most frequent word of each topic the searcher's conversations
    /// do not have.
    pub(super) fn foreign_terms(&self) -> Vec<String> {
        self.topics[TOPICS / 2..].iter().map(|t| t[0].clone()).collect()
    }

    /// The searcher's conversations (indexes into `convs`).
    pub(super) fn searcher_convs(&self) -> Vec<usize> {
        (0..self.convs.len()).filter(|&c| self.convs[c].searcher).collect()
    }

    /// Messages of the searcher's conversations for which `pred` holds.
    #[cfg(test)]
    fn count_visible(&self, mut pred: impl FnMut(&Msg) -> bool) -> u64 {
        (0..self.m).filter(|&i| self.convs[self.conv_of(i)].searcher && pred(&self.message(i))).count() as u64
    }
}

/// The conversations: the searcher's first, then the others.
fn conversations(shape: &Shape) -> Vec<Conv> {
    let mut rng = Rng::new(STRUCTURE, 0);
    let (u, searcher) = (shape.users, shape.users);
    let home = TOPICS / 2;
    let mut convs = Vec::new();
    let mut groups = 0;
    for p in rng.distinct(u, shape.searcher_directs) {
        let topic = rng.below(home);
        convs.push(Conv { members: vec![searcher, p], group: None, searcher: true, topic, name: String::new() });
    }
    for g in 0..shape.searcher_groups {
        let size = rng.log_uniform(3, 30).min(u + 1);
        let mut members = vec![searcher];
        members.extend(rng.distinct(u, size - 1));
        let name = format!("{} {g}", SEARCHER_GROUP_NAMES[g % SEARCHER_GROUP_NAMES.len()]);
        convs.push(Conv { members, group: Some(groups), searcher: true, topic: rng.below(home), name });
        groups += 1;
    }
    let mut pairs = HashSet::new();
    let directs = shape.directs.min(u * (u - 1) / 2);
    while pairs.len() < directs {
        let (a, b) = (rng.below(u), rng.below(u));
        if a != b && pairs.insert((a.min(b), a.max(b))) {
            let topic = rng.below(TOPICS);
            convs.push(Conv { members: vec![a, b], group: None, searcher: false, topic, name: String::new() });
        }
    }
    for g in 0..shape.groups {
        let size = rng.log_uniform(3, 40).min(u);
        let members = rng.distinct(u, size);
        let name = format!("讨论组 {g}");
        convs.push(Conv { members, group: Some(groups), searcher: false, topic: rng.below(TOPICS), name });
        groups += 1;
    }
    convs
}

/// Where each needle is planted: the plants in a shuffled order, one per
/// stretch of `m / plants` messages.
fn plants(rng: &mut Rng, needles: &[Needle], convs: &[Conv], m: u64) -> Vec<Plant> {
    let mine: Vec<usize> = (0..convs.len()).filter(|&c| convs[c].searcher).collect();
    let others: Vec<usize> = (0..convs.len()).filter(|&c| !convs[c].searcher).collect();
    let mut plants = Vec::new();
    for (n, needle) in needles.iter().enumerate() {
        let (visible, hidden) = if needle.decoy {
            (0, 1 + rng.below(HIDDEN_PLANTS))
        } else {
            (1 + rng.below(VISIBLE_PLANTS), rng.below(HIDDEN_PLANTS))
        };
        for k in 0..visible + hidden {
            let conv = if k < visible { *rng.pick(&mine) } else { *rng.pick(&others) };
            let sender = *rng.pick(&convs[conv].members);
            plants.push(Plant { needle: n, conv, sender, index: 0 });
        }
    }
    let mut keyed: Vec<(u64, Plant)> = plants.into_iter().map(|p| (rng.next(), p)).collect();
    keyed.sort_by_key(|(k, _)| *k);
    let mut plants: Vec<Plant> = keyed.into_iter().map(|(_, p)| p).collect();
    let stretch = (m / plants.len().max(1) as u64).max(1);
    for (k, p) in plants.iter_mut().enumerate() {
        p.index = (k as u64 * stretch + rng.next() % stretch).min(m.saturating_sub(1));
    }
    plants
}

/// A file with a Chinese name.
fn file(rng: &mut Rng) -> Content {
    let (ext, mime) = *rng.pick(FILE_TYPES);
    let name = format!(
        "{}{}年{}{}.{ext}",
        rng.pick(FILE_UNITS),
        2020 + rng.below(7),
        rng.pick(FILE_PERIODS),
        rng.pick(FILE_DOCS)
    );
    let sha256 = (0..4).map(|_| format!("{:016x}", rng.next())).collect();
    Content::File {
        name,
        size: 10_000 + rng.below(20_000_000) as i64,
        mime,
        file_id: format!("f_{:016x}", rng.next()),
        sha256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_same_every_time_and_about_60_bytes() {
        let (a, b) = (Corpus::new(20_000), Corpus::new(20_000));
        let mut bytes = 0;
        for i in 0..2_000 {
            assert_eq!(a.message(i), b.message(i));
            assert_eq!(a.conv_of(i), a.message(i).conv);
            bytes += a.message(i).content.searchable().len();
        }
        let mean = bytes / 2_000;
        assert!((50..=80).contains(&mean), "mean line {mean} bytes");
    }

    #[test]
    fn needles_are_unique_and_found_only_where_planted() {
        let c = Corpus::new(20_000);
        assert_eq!(c.needles.len(), 2 * (10 + 2));
        let planted: HashSet<u64> = c.plants.iter().map(|p| p.index).collect();
        assert_eq!(planted.len(), c.plants.len(), "one plant per message");
        for i in 0..c.m {
            let m = c.message(i);
            let text = m.content.searchable();
            for (n, needle) in c.needles.iter().enumerate() {
                let hit = matches(&needle.query, text);
                let here = c.plant_at(i).is_some_and(|p| c.plants[p].needle == n);
                assert_eq!(hit, here, "needle {} in message {i}: {text}", needle.query);
            }
        }
        for p in &c.plants {
            assert!(c.convs[p.conv].members.contains(&p.sender));
            if c.needles[p.needle].decoy {
                assert!(!c.convs[p.conv].searcher, "a decoy is planted out of the searcher's sight");
            }
        }
        assert!(c.plants.iter().any(|p| !c.convs[p.conv].searcher && !c.needles[p.needle].decoy));
        for (n, needle) in c.needles.iter().enumerate().filter(|(_, n)| !n.decoy) {
            let visible = c.plants.iter().filter(|p| p.needle == n && c.convs[p.conv].searcher).count();
            assert!((1..=VISIBLE_PLANTS).contains(&visible), "{}: {visible}", needle.query);
        }
    }

    #[test]
    fn rare_characters_and_reserved_prefixes_stay_apart() {
        let common: HashSet<char> = ZH_POOL
            .chars()
            .chain(ZH_HEAD.iter().flat_map(|w| w.chars()))
            .chain(
                FILE_UNITS
                    .iter()
                    .chain(FILE_PERIODS)
                    .chain(FILE_DOCS)
                    .chain(SEARCHER_GROUP_NAMES)
                    .flat_map(|w| w.chars()),
            )
            .chain("讨论组年，。？！".chars())
            .collect();
        assert!(RARE.chars().all(|r| !common.contains(&r)));
        assert!(EN_HEAD.iter().all(|w| !w.starts_with('q') && !w.starts_with("zx")));
        let c = Corpus::new(10_000);
        assert!(c.en.words.iter().all(|w| !w.starts_with('q') && !w.starts_with("zx")));
        let (zh, en): (Vec<String>, Vec<String>) = c.paging_terms().into_iter().partition(|t| t.chars().all(is_han));
        for t in c.common_zh().iter().chain(&zh).chain(&c.file_terms()) {
            assert!(
                t.chars().all(is_han)
                    && (ZH_HEAD.contains(&t.as_str()) || FILE_DOCS.iter().any(|d| d.contains(t.as_str()))),
                "{t}"
            );
        }
        for t in c.common_en().iter().chain(&en) {
            assert!(EN_HEAD.contains(&t.as_str()), "{t}");
        }
    }

    #[test]
    fn the_searcher_never_sees_a_foreign_topic() {
        let c = Corpus::new(20_000);
        assert!(c.convs.iter().filter(|v| v.searcher).all(|v| v.topic < TOPICS / 2));
        for t in c.foreign_terms() {
            assert_eq!(c.count_visible(|m| matches(&t, m.content.searchable())), 0, "{t}");
        }
        let everywhere = (0..c.m).filter(|&i| matches(&c.foreign_terms()[0], c.message(i).content.searchable()));
        assert!(everywhere.count() > 0 || c.convs.iter().all(|v| v.topic != TOPICS / 2));
    }

    #[test]
    fn matching_follows_the_query_semantics() {
        assert!(matches("数据", "我们明天讨论数据库迁移"));
        assert!(!matches("数据表", "我们明天讨论数据库迁移"));
        assert!(matches("datab", "Planning the Database migration"));
        assert!(matches("ZXkam", "see zxkamoli now"));
        assert!(!matches("base", "Planning the Database migration"));
        assert!(matches("qorel", "部署 qorelta 好了"));
        assert!(matches("pdf", "市场部2026年六月报告.pdf"));
    }

    #[test]
    fn files_are_valid_file_refs() {
        let mut rng = Rng::new(MESSAGE, 7);
        for _ in 0..100 {
            let Content::File { name, sha256, file_id, size, .. } = file(&mut rng) else { panic!() };
            assert_eq!(sha256.len(), 64);
            assert!(file_id.len() <= 64 && size > 0 && name.ends_with(|c: char| c.is_ascii_lowercase()));
        }
    }
}
