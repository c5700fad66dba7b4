// Sunlight console: translations and locale-aware formatting.
// Every visible string goes through t(key). Placeholders look like {name}.

const LANG_KEY = 'sunlight.lang';
export const LANGS = ['zh-CN', 'en'];

const zh = {
  'app.name': 'Sunlight',
  'app.tagline': '阳光·权力监督预警',
  'app.skip': '跳到主要内容',
  'nav.label': '主导航',
  'nav.board': '总览',
  'nav.officials': '公职人员',
  'nav.warnings': '预警',
  'header.whoami': '当前用户',
  'header.readonly': '只读',
  'header.lang': '语言',
  'header.signout': '退出',
  'banner.loopoff': '闭环处置未开启：赋码结果不可用，所有人员的码显示为“未知”。',

  'signin.title': '登录',
  'signin.intro': '请粘贴管理员分发的访问令牌（Bearer token）。令牌只保存在本标签页的会话中，关闭标签页后即失效。',
  'signin.label': '访问令牌',
  'signin.button': '登录',
  'signin.empty': '请先粘贴访问令牌。',
  'signin.failed': '登录失败',
  'signin.expired': '会话已失效，请重新登录',
  'signin.checking': '正在验证…',

  'common.loading': '正在加载…',
  'common.error': '出错了',
  'common.notfound': '未找到，或您无权查看。',
  'common.network': '无法连接服务器',
  'common.retry': '重试',
  'common.none': '—',
  'common.all': '全部',
  'common.apply': '筛选',
  'common.reset': '清除',
  'common.prev': '上一页',
  'common.next': '下一页',
  'common.page': '第 {n} 页',
  'common.back': '返回',
  'common.yes': '是',
  'common.no': '否',
  'common.empty': '没有符合条件的记录。',
  'common.filters': '筛选条件',

  'code.red': '红',
  'code.yellow': '黄',
  'code.green': '绿',
  'code.unknown': '未知',
  'code.label': '{code}码',

  'status.pushed': '已推送',
  'status.received': '已签收',
  'status.verifying': '核查中',
  'status.rectified': '已整改',
  'status.confirmed': '已确认',
  'status.dismissed': '已排除',
  'status.open': '未办结',
  'status.closed': '已办结',

  'board.title': '总览',
  'board.updated': '更新于 {time}',
  'board.computed': '数据计算时间 {time}',
  'board.byRegion': '按地区统计的人员赋码',
  'board.byUnit': '按单位统计的人员赋码',
  'board.byRule': '按规则统计的未办结预警（共 {n} 条）',
  'board.region': '地区',
  'board.unit': '单位',
  'board.total': '合计',
  'board.allRegions': '全部地区',
  'board.unknownRegion': '（未知地区）',
  'board.unknownUnit': '（未知单位）',
  'board.tile': '{place}，{code}码：{n} 人',
  'board.tileTotal': '全部地区，{code}码：{n} 人',
  'board.rule': '规则',
  'board.openTotal': '未办结',
  'board.noRules': '当前没有未办结的预警。',
  'board.noRegions': '暂无数据。',
  'board.autorefresh': '每 10 秒自动刷新',
  'board.refreshFailed': '刷新失败：{msg}',
  'board.loopoff': '闭环处置未开启，赋码统计均为“未知”。',

  'officials.title': '公职人员',
  'officials.caption': '公职人员列表',
  'officials.id': '人员编号',
  'officials.region': '地区',
  'officials.unit': '单位',
  'officials.code': '赋码',
  'officials.score': '风险分',
  'officials.openWarnings': '未办结预警',
  'officials.filterCode': '赋码',
  'officials.filterRegion': '地区',
  'officials.filterUnit': '单位',

  'official.title': '人员 {id}',
  'official.risk': '风险赋码',
  'official.score': '风险分',
  'official.computed': '计算时间',
  'official.region': '地区',
  'official.unit': '单位',
  'official.history': '赋码历史',
  'official.historyCaption': '赋码变化记录（从早到晚）',
  'official.chartLabel': '风险分随时间变化的阶梯图，点的颜色表示赋码',
  'official.chartEmpty': '暂无带分值的赋码记录。',
  'official.at': '时间',
  'official.code': '赋码',
  'official.previous': '此前',
  'official.warningsCol': '相关预警',
  'official.openWarnings': '未办结预警',
  'official.openCaption': '该人员的未办结预警',
  'official.noOpen': '没有未办结的预警。',
  'official.windows': '统计窗口',
  'official.windowsCaption': '正在累计的规则窗口',
  'official.noWindows': '没有正在累计的窗口。',
  'official.historyFailed': '无法加载赋码历史：{msg}',

  'warnings.title': '预警',
  'warnings.caption': '预警列表（最新在前）',
  'warnings.filterStatus': '状态',
  'warnings.filterLevel': '级别',
  'warnings.filterRule': '规则',
  'warnings.filterOfficial': '人员编号',
  'warnings.filterSince': '起始日期',
  'warnings.filterUntil': '截止日期',
  'warnings.detected': '发现时间',
  'warnings.occurred': '发生时间',
  'warnings.level': '级别',
  'warnings.warning': '预警',
  'warnings.rule': '规则',
  'warnings.official': '人员',
  'warnings.place': '地区 / 单位',
  'warnings.status': '状态',
  'warnings.case': '案件',
  'warnings.escalated': '已升级',
  'warnings.key': '关联对象',

  'warning.title': '预警详情',
  'warning.level': '级别',
  'warning.status': '状态',
  'warning.official': '人员',
  'warning.rule': '规则',
  'warning.ruleVersion': '第 {v} 版',
  'warning.key': '关联对象',
  'warning.occurred': '发生时间',
  'warning.detected': '发现时间',
  'warning.window': '统计窗口',
  'warning.case': '案件编号',
  'warning.escalated': '已升级',
  'warning.place': '地区 / 单位',
  'warning.trigger': '触发事件',
  'warning.id': '预警编号',
  'warning.why': '触发原因',
  'warning.measures': '统计值',
  'warning.conditions': '触发条件',
  'warning.condCaption': '触发条件（全部满足时预警）',
  'warning.condMeasure': '指标',
  'warning.condValue': '实际值',
  'warning.condOp': '比较',
  'warning.condThreshold': '阈值',
  'warning.noConditions': '该规则没有数值条件。',
  'warning.evidence': '证据',
  'warning.evidenceCaption': '证据事件（{shown} / 共 {total} 条）',
  'warning.eventId': '事件编号',
  'warning.kind': '类型',
  'warning.time': '时间',
  'warning.amount': '金额',
  'warning.counterparty': '交易对象',
  'warning.attributes': '其他属性',
  'warning.idsOnly': '仅提供事件编号。',
  'warning.history': '处置记录',
  'warning.historyCaption': '处置记录（从早到晚）',
  'warning.handler': '处置人',
  'warning.note': '备注',

  'measure.count': '次数',
  'measure.sum': '合计',
  'measure.avg': '平均',
  'measure.min': '最小',
  'measure.max': '最大',
  'measure.distinct': '不同对象数',

  'feedback.title': '处置',
  'feedback.intro': '选择下一步处置状态。状态经消息队列处理，几秒后生效。',
  'feedback.note': '处置备注（可选）',
  'feedback.do.received': '签收',
  'feedback.do.verifying': '开始核查',
  'feedback.do.rectified': '标记已整改',
  'feedback.do.confirmed': '确认属实',
  'feedback.do.dismissed': '排除（误报）',
  'feedback.sending': '正在提交…',
  'feedback.waiting': '已受理，等待状态更新…',
  'feedback.done': '状态已更新为：{status}',
  'feedback.slow': '已受理，但状态尚未更新，请稍后刷新页面。',
  'feedback.failed': '提交失败：{msg}',
  'feedback.closed': '该预警已办结。',
};

const en = {
  'app.name': 'Sunlight',
  'app.tagline': 'Public-power early warning',
  'app.skip': 'Skip to main content',
  'nav.label': 'Main navigation',
  'nav.board': 'Overview',
  'nav.officials': 'Officials',
  'nav.warnings': 'Warnings',
  'header.whoami': 'Signed in as',
  'header.readonly': 'read-only',
  'header.lang': 'Language',
  'header.signout': 'Sign out',
  'banner.loopoff': 'The closed loop is off: risk codes are not computed, every official shows as "unknown".',

  'signin.title': 'Sign in',
  'signin.intro': 'Paste the access token (bearer token) you were given. It is kept only in this tab\'s session and is gone when the tab is closed.',
  'signin.label': 'Access token',
  'signin.button': 'Sign in',
  'signin.empty': 'Please paste an access token first.',
  'signin.failed': 'Sign-in failed',
  'signin.expired': 'Your session has ended, please sign in again',
  'signin.checking': 'Checking…',

  'common.loading': 'Loading…',
  'common.error': 'Something went wrong',
  'common.notfound': 'Not found or not visible to you.',
  'common.network': 'Cannot reach the server',
  'common.retry': 'Retry',
  'common.none': '—',
  'common.all': 'All',
  'common.apply': 'Apply',
  'common.reset': 'Clear',
  'common.prev': 'Previous',
  'common.next': 'Next',
  'common.page': 'Page {n}',
  'common.back': 'Back',
  'common.yes': 'yes',
  'common.no': 'no',
  'common.empty': 'Nothing matches.',
  'common.filters': 'Filters',

  'code.red': 'Red',
  'code.yellow': 'Yellow',
  'code.green': 'Green',
  'code.unknown': 'Unknown',
  'code.label': '{code} code',

  'status.pushed': 'Pushed',
  'status.received': 'Received',
  'status.verifying': 'Verifying',
  'status.rectified': 'Rectified',
  'status.confirmed': 'Confirmed',
  'status.dismissed': 'Dismissed',
  'status.open': 'Open',
  'status.closed': 'Closed',

  'board.title': 'Overview',
  'board.updated': 'Updated at {time}',
  'board.computed': 'data computed at {time}',
  'board.byRegion': 'Officials by region and code',
  'board.byUnit': 'Officials by organisational unit and code',
  'board.byRule': 'Open warnings by rule ({n} in total)',
  'board.region': 'Region',
  'board.unit': 'Unit',
  'board.total': 'Total',
  'board.allRegions': 'All regions',
  'board.unknownRegion': '(unknown region)',
  'board.unknownUnit': '(unknown unit)',
  'board.tile': '{place}, {code}: {n} officials',
  'board.tileTotal': 'All regions, {code}: {n} officials',
  'board.rule': 'Rule',
  'board.openTotal': 'Open',
  'board.noRules': 'There are no open warnings.',
  'board.noRegions': 'No data yet.',
  'board.autorefresh': 'refreshes every 10 s',
  'board.refreshFailed': 'Refresh failed: {msg}',
  'board.loopoff': 'The closed loop is off; all codes are counted as unknown.',

  'officials.title': 'Officials',
  'officials.caption': 'Officials',
  'officials.id': 'Official',
  'officials.region': 'Region',
  'officials.unit': 'Unit',
  'officials.code': 'Code',
  'officials.score': 'Score',
  'officials.openWarnings': 'Open warnings',
  'officials.filterCode': 'Code',
  'officials.filterRegion': 'Region',
  'officials.filterUnit': 'Unit',

  'official.title': 'Official {id}',
  'official.risk': 'Risk code',
  'official.score': 'Score',
  'official.computed': 'Computed at',
  'official.region': 'Region',
  'official.unit': 'Unit',
  'official.history': 'Code history',
  'official.historyCaption': 'Code changes (oldest first)',
  'official.chartLabel': 'Step chart of the risk score over time; point colours show the code',
  'official.chartEmpty': 'No scored code history yet.',
  'official.at': 'Time',
  'official.code': 'Code',
  'official.previous': 'Previous',
  'official.warningsCol': 'Warnings',
  'official.openWarnings': 'Open warnings',
  'official.openCaption': 'Open warnings of this official',
  'official.noOpen': 'No open warnings.',
  'official.windows': 'Windows',
  'official.windowsCaption': 'Rule windows currently accumulating',
  'official.noWindows': 'No windows are accumulating.',
  'official.historyFailed': 'Could not load the code history: {msg}',

  'warnings.title': 'Warnings',
  'warnings.caption': 'Warnings (newest first)',
  'warnings.filterStatus': 'Status',
  'warnings.filterLevel': 'Level',
  'warnings.filterRule': 'Rule',
  'warnings.filterOfficial': 'Official ID',
  'warnings.filterSince': 'From date',
  'warnings.filterUntil': 'To date',
  'warnings.detected': 'Detected',
  'warnings.occurred': 'Occurred',
  'warnings.level': 'Level',
  'warnings.warning': 'Warning',
  'warnings.rule': 'Rule',
  'warnings.official': 'Official',
  'warnings.place': 'Region / unit',
  'warnings.status': 'Status',
  'warnings.case': 'Case',
  'warnings.escalated': 'escalated',
  'warnings.key': 'Subject',

  'warning.title': 'Warning',
  'warning.level': 'Level',
  'warning.status': 'Status',
  'warning.official': 'Official',
  'warning.rule': 'Rule',
  'warning.ruleVersion': 'version {v}',
  'warning.key': 'Subject',
  'warning.occurred': 'Occurred',
  'warning.detected': 'Detected',
  'warning.window': 'Window',
  'warning.case': 'Case',
  'warning.escalated': 'Escalated',
  'warning.place': 'Region / unit',
  'warning.trigger': 'Trigger event',
  'warning.id': 'Warning ID',
  'warning.why': 'Why it fired',
  'warning.measures': 'Measures',
  'warning.conditions': 'Conditions',
  'warning.condCaption': 'Conditions (all must hold)',
  'warning.condMeasure': 'Measure',
  'warning.condValue': 'Value',
  'warning.condOp': 'Comparison',
  'warning.condThreshold': 'Threshold',
  'warning.noConditions': 'This rule has no numeric conditions.',
  'warning.evidence': 'Evidence',
  'warning.evidenceCaption': 'Evidence events ({shown} of {total})',
  'warning.eventId': 'Event',
  'warning.kind': 'Kind',
  'warning.time': 'Time',
  'warning.amount': 'Amount',
  'warning.counterparty': 'Counterparty',
  'warning.attributes': 'Attributes',
  'warning.idsOnly': 'Only the event IDs are available.',
  'warning.history': 'Handling history',
  'warning.historyCaption': 'Handling history (oldest first)',
  'warning.handler': 'Handler',
  'warning.note': 'Note',

  'measure.count': 'count',
  'measure.sum': 'sum',
  'measure.avg': 'average',
  'measure.min': 'minimum',
  'measure.max': 'maximum',
  'measure.distinct': 'distinct',

  'feedback.title': 'Handle',
  'feedback.intro': 'Choose the next status. Feedback goes through a queue and takes effect after a few seconds.',
  'feedback.note': 'Note (optional)',
  'feedback.do.received': 'Mark received',
  'feedback.do.verifying': 'Start verifying',
  'feedback.do.rectified': 'Mark rectified',
  'feedback.do.confirmed': 'Confirm',
  'feedback.do.dismissed': 'Dismiss (false positive)',
  'feedback.sending': 'Sending…',
  'feedback.waiting': 'Accepted, waiting for the status to change…',
  'feedback.done': 'Status is now: {status}',
  'feedback.slow': 'Accepted, but the status has not changed yet; reload the page in a moment.',
  'feedback.failed': 'Not accepted: {msg}',
  'feedback.closed': 'This warning is closed.',
};

export const DICT = { 'zh-CN': zh, en };

function detect() {
  try {
    const saved = sessionStorage.getItem(LANG_KEY);
    if (saved && LANGS.includes(saved)) return saved;
  } catch (_) { /* storage unavailable */ }
  const prefs = (navigator.languages && navigator.languages.length)
    ? navigator.languages : [navigator.language || ''];
  for (const p of prefs) {
    const l = String(p).toLowerCase();
    if (l.startsWith('zh')) return 'zh-CN';
    if (l.startsWith('en')) return 'en';
  }
  return 'zh-CN';
}

let lang = detect();

export function getLang() { return lang; }

export function setLang(l, persist = true) {
  if (!LANGS.includes(l)) return;
  lang = l;
  if (persist) {
    try { sessionStorage.setItem(LANG_KEY, l); } catch (_) { /* ignore */ }
  }
  document.documentElement.lang = l;
  dateFmt = null; dayFmt = null; timeFmt = null; moneyFmt = null; numFmt = null;
}

export function t(key, params) {
  let s = DICT[lang][key];
  if (s === undefined) s = DICT.en[key];
  if (s === undefined) return key;
  if (params) {
    s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] !== undefined ? String(params[k]) : m));
  }
  return s;
}

let dateFmt = null, dayFmt = null, timeFmt = null, moneyFmt = null, numFmt = null;

function parse(v) {
  if (v === null || v === undefined || v === '') return null;
  const d = new Date(v);
  return isNaN(d.getTime()) ? null : d;
}

/** Date and time in the browser's local time zone. */
export function fmtDateTime(v) {
  const d = parse(v);
  if (!d) return v ? String(v) : t('common.none');
  if (!dateFmt) {
    // English uses a short month name so day and month cannot be confused.
    dateFmt = new Intl.DateTimeFormat(lang, {
      year: 'numeric', month: lang === 'en' ? 'short' : '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    });
  }
  return dateFmt.format(d);
}

export function fmtDate(v) {
  const d = parse(v);
  if (!d) return v ? String(v) : t('common.none');
  if (!dayFmt) dayFmt = new Intl.DateTimeFormat(lang, { year: 'numeric', month: lang === 'en' ? 'short' : '2-digit', day: '2-digit' });
  return dayFmt.format(d);
}

export function fmtTime(v) {
  const d = parse(v);
  if (!d) return t('common.none');
  if (!timeFmt) {
    timeFmt = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  }
  return timeFmt.format(d);
}

/** Money given in cents, shown as yuan with two decimals. */
export function fmtMoneyCents(cents) {
  if (cents === null || cents === undefined || cents === '' || isNaN(Number(cents))) return t('common.none');
  if (!moneyFmt) {
    const opts = { style: 'currency', currency: 'CNY', minimumFractionDigits: 2, maximumFractionDigits: 2 };
    try {
      moneyFmt = new Intl.NumberFormat(lang === 'zh-CN' ? 'zh-CN' : 'en', { ...opts, currencyDisplay: 'narrowSymbol' });
    } catch (_) {
      moneyFmt = new Intl.NumberFormat(lang === 'zh-CN' ? 'zh-CN' : 'en', opts);
    }
  }
  return moneyFmt.format(Number(cents) / 100);
}

export function fmtNumber(v) {
  if (v === null || v === undefined || v === '' || isNaN(Number(v))) return t('common.none');
  if (!numFmt) numFmt = new Intl.NumberFormat(lang === 'zh-CN' ? 'zh-CN' : 'en', { maximumFractionDigits: 2 });
  return numFmt.format(Number(v));
}

setLang(lang, false);
