// kafkajs 2.2.4 consumer groups against sluiced (broker address argv[2], scenario argv[3]):
//   classic   the classic example: group analytics-group, run({ eachMessage }) sees every message
//             with its partition, offset, key, value and headers; a second group sees it all again
//   split     two members split a 3-partition topic, a third joins (partitions move), a member
//             SIGKILLed without leaving loses its partitions after the session timeout, and the
//             group still sees every message, committed offsets ending at the log end
//   commit1 / check1 / check2  committed offsets across broker restarts (driven by the .py)
//   replay    seek to the beginning, and to a timestamp (admin.fetchTopicOffsetsByTimestamp)
//   admin     describeGroups + fetchOffsets + fetchTopicOffsets: members, assignment and lag
//   member    (internal) a child process consuming in a group, reporting over IPC
const { fork } = require('child_process')
const { Kafka, logLevel, AssignerProtocol } = require('kafkajs')

const bootstrap = process.argv[2]
const scenario = process.argv[3]
const kafka = new Kafka({
  clientId: 'sluice-group-test',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 2000 }
})

function assert (cond, ...msg) {
  if (!cond) throw new Error('assertion failed: ' + msg.map(m => typeof m === 'string' ? m : JSON.stringify(m)).join(' '))
}
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
async function until (what, fn, timeoutMs = 40000, stepMs = 200) {
  const deadline = Date.now() + timeoutMs
  let last
  while (Date.now() < deadline) {
    last = await fn()
    if (last) return last
    await sleep(stepMs)
  }
  throw new Error('timed out waiting for ' + what)
}

async function withAdmin (fn) {
  const admin = kafka.admin()
  await admin.connect()
  try { return await fn(admin) } finally { await admin.disconnect() }
}

async function createTopic (admin, topic, numPartitions) {
  const created = await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true })
  assert(created, 'createTopics', topic)
}

// Produces `count` keyed messages round-robin over `partitions`; returns what was written, with
// the offset of each message computed from the base offsets the broker returned.
async function produceSome (topic, partitions, count, tag, extra = {}) {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const written = []
  try {
    const perPartition = {}
    for (let i = 0; i < count; i++) {
      const p = i % partitions;
      (perPartition[p] ||= []).push({
        partition: p,
        key: `${tag}-key-${i}`,
        value: `${tag}-value-${i}`,
        headers: { tag, n: String(i) },
        ...(extra.timestamp ? { timestamp: String(extra.timestamp) } : {})
      })
    }
    for (const [p, messages] of Object.entries(perPartition)) {
      const meta = await producer.send({ topic, messages, acks: -1 })
      assert(meta.length === 1 && meta[0].errorCode === 0 && meta[0].partition === Number(p), 'send', meta)
      messages.forEach((m, j) => written.push({ ...m, offset: Number(meta[0].baseOffset) + j }))
    }
  } finally {
    await producer.disconnect()
  }
  return written
}

function decodeAssignment (buf) {
  if (!buf || buf.length === 0) return {}
  const a = AssignerProtocol.MemberAssignment.decode(buf)
  return a ? a.assignment : {}
}

async function describe (admin, groupId) {
  const { groups } = await admin.describeGroups([groupId])
  assert(groups.length === 1 && groups[0].errorCode === 0, 'describeGroups', groups)
  const g = groups[0]
  return { ...g, assignments: g.members.map(m => ({ memberId: m.memberId, clientId: m.clientId, assignment: decodeAssignment(m.memberAssignment) })) }
}

async function logEnds (admin, topic) {
  const offs = await admin.fetchTopicOffsets(topic)
  const out = {}
  for (const o of offs) out[o.partition] = Number(o.high)
  return out
}

async function committed (admin, groupId, topic) {
  const res = await admin.fetchOffsets({ groupId, topics: [topic] })
  const out = {}
  for (const p of res[0].partitions) out[p.partition] = Number(p.offset)
  return out
}

// Runs a consumer until `done(seen)` or timeout; returns the messages in arrival order.
async function consumeUntil (consumerConfig, subscribe, done, { onRunning, timeoutMs = 40000, autoCommit = true } = {}) {
  const consumer = kafka.consumer({ heartbeatInterval: 500, maxWaitTimeInMs: 500, ...consumerConfig })
  const seen = []
  await consumer.connect()
  try {
    await consumer.subscribe(subscribe)
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consume timeout; saw ${seen.length}`)), timeoutMs)
      consumer.run({
        autoCommit,
        eachMessage: async ({ topic, partition, message }) => {
          seen.push({
            topic,
            partition,
            offset: Number(message.offset),
            key: message.key && message.key.toString(),
            value: message.value && message.value.toString(),
            timestamp: Number(message.timestamp),
            headers: Object.fromEntries(Object.entries(message.headers || {}).map(([k, v]) => [k, v.toString()]))
          })
          if (done(seen)) { clearTimeout(timer); resolve() }
        }
      }).then(() => { if (onRunning) onRunning(consumer) }).catch(reject)
    })
    return seen
  } finally {
    await consumer.disconnect()
  }
}

function checkExact (seen, written, what) {
  const byPos = new Map(seen.map(m => [`${m.partition}/${m.offset}`, m]))
  assert(byPos.size === seen.length, what, 'duplicate deliveries', seen.length, byPos.size)
  assert(seen.length === written.length, what, 'count', seen.length, written.length)
  for (const w of written) {
    const m = byPos.get(`${w.partition}/${w.offset}`)
    assert(m, what, 'missing', w)
    assert(m.key === w.key && m.value === w.value, what, 'content', m, w)
    assert(m.headers.tag === w.headers.tag && m.headers.n === w.headers.n, what, 'headers', m.headers, w.headers)
  }
}

// ------------------------------------------------------------------------------------- classic

async function classic () {
  const topic = 'user-events'
  await withAdmin(admin => createTopic(admin, topic, 3))
  const written = await produceSome(topic, 3, 60, 'classic')
  const all = seen => seen.length >= written.length
  const seen = await consumeUntil({ groupId: 'analytics-group' }, { topics: [topic], fromBeginning: true }, all)
  checkExact(seen, written, 'analytics-group')
  // Offsets within each partition arrive in order.
  for (let p = 0; p < 3; p++) {
    const offs = seen.filter(m => m.partition === p).map(m => m.offset)
    assert(offs.length === 20 && offs.every((o, i) => o === i), 'partition order', p, offs)
  }
  await withAdmin(async admin => {
    const c = await committed(admin, 'analytics-group', topic)
    assert(JSON.stringify(c) === JSON.stringify({ 0: 20, 1: 20, 2: 20 }), 'committed after classic', c)
  })
  // Pub/sub: a second group gets every message again, independently of the first.
  const again = await consumeUntil({ groupId: 'audit-group' }, { topics: [topic], fromBeginning: true }, all)
  checkExact(again, written, 'audit-group')
  // A restart of the first group has nothing new to read: produce one more, it gets only that.
  const more = await produceSome(topic, 3, 3, 'more')
  const next = await consumeUntil({ groupId: 'analytics-group' }, { topics: [topic], fromBeginning: true }, s => s.length >= 3)
  await sleep(1000)
  checkExact(next, more, 'analytics-group resumed')
}

// --------------------------------------------------------------------------------------- split

function spawnMember (name, groupId, topic, events) {
  const child = fork(__filename, [bootstrap, 'member', groupId, topic, name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  child.on('message', m => events.push({ member: name, ...m }))
  return child
}

async function member () {
  const [groupId, topic, name] = process.argv.slice(4)
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10000, maxWaitTimeInMs: 300 })
  consumer.on(consumer.events.GROUP_JOIN, e => process.send({ type: 'join', memberId: e.payload.memberId, assignment: e.payload.memberAssignment }))
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      process.send({ type: 'msg', partition, offset: Number(message.offset), value: message.value.toString() })
    }
  })
  process.send({ type: 'running' })
  process.on('message', async m => {
    if (m === 'stop') {
      await consumer.disconnect()
      process.send({ type: 'stopped' })
      process.exit(0)
    }
  })
}

function partitionsOf (assignment, topic) { return (assignment[topic] || []).slice().sort() }

async function stableSplit (admin, groupId, topic, memberCount) {
  return until(`group ${groupId} stable with ${memberCount} members`, async () => {
    const g = await describe(admin, groupId)
    if (g.state !== 'Stable' || g.members.length !== memberCount) return null
    const sets = g.assignments.map(a => partitionsOf(a.assignment, topic))
    const union = sets.flat().sort()
    if (sets.some(s => s.length === 0) || JSON.stringify(union) !== '[0,1,2]') return null
    return g
  }, 45000, 250)
}

async function split () {
  const topic = 'split-topic'
  const groupId = 'split-group'
  await withAdmin(admin => createTopic(admin, topic, 3))
  const events = []
  const members = { a: spawnMember('a', groupId, topic, events), b: spawnMember('b', groupId, topic, events) }
  const written = []
  const seenBy = () => new Set(events.filter(e => e.type === 'msg').map(e => `${e.partition}/${e.offset}`))
  const allSeen = () => written.every(w => seenBy().has(`${w.partition}/${w.offset}`))
  try {
    await withAdmin(async admin => {
      const two = await stableSplit(admin, groupId, topic, 2)
      const twoSets = two.assignments.map(a => partitionsOf(a.assignment, topic))
      console.log('two members:', JSON.stringify(twoSets))
      assert(twoSets.every(s => s.length > 0), 'two members: non-empty', twoSets)

      written.push(...await produceSome(topic, 3, 30, 'first'))
      await until('first batch consumed', async () => allSeen())
      // Each partition was consumed by the member that owns it.
      const owner = {}
      for (const a of two.assignments) for (const p of partitionsOf(a.assignment, topic)) owner[p] = a.memberId
      const joinOf = {}
      for (const e of events) if (e.type === 'join') joinOf[e.member] = e.memberId
      for (const e of events.filter(e => e.type === 'msg')) assert(owner[e.partition] === joinOf[e.member], 'message consumed by non-owner', e)

      // A third member joins: partitions move, each member now has exactly one.
      members.c = spawnMember('c', groupId, topic, events)
      const three = await stableSplit(admin, groupId, topic, 3)
      const threeSets = three.assignments.map(a => partitionsOf(a.assignment, topic))
      console.log('three members:', JSON.stringify(threeSets))
      assert(threeSets.every(s => s.length === 1), 'three members: one partition each', threeSets)
      await until('member c received its assignment', async () => events.some(e => e.member === 'c' && e.type === 'join' && partitionsOf(e.assignment, topic).length === 1))

      written.push(...await produceSome(topic, 3, 30, 'second'))
      await until('second batch consumed', async () => allSeen())

      // SIGKILL one member: no LeaveGroup, only the session timeout (6 s) tells the coordinator.
      const victimJoin = events.filter(e => e.type === 'join' && e.member === 'b').pop()
      members.b.kill('SIGKILL')
      console.log('killed member b holding', JSON.stringify(victimJoin.assignment))
      // Messages produced while b is dead, including to its partitions.
      written.push(...await produceSome(topic, 3, 30, 'third'))
      const after = await stableSplit(admin, groupId, topic, 2)
      assert(!after.members.some(m => m.memberId === victimJoin.memberId), 'dead member still in group')
      console.log('after kill:', JSON.stringify(after.assignments.map(a => partitionsOf(a.assignment, topic))))
      await until('everything consumed after the kill', async () => allSeen(), 45000)

      // Stop the survivors cleanly (they commit), then committed offsets are at the log end.
      for (const name of ['a', 'c']) {
        members[name].send('stop')
        await until(`member ${name} stopped`, async () => events.some(e => e.member === name && e.type === 'stopped'))
      }
      const ends = await logEnds(admin, topic)
      assert(JSON.stringify(ends) === JSON.stringify({ 0: 30, 1: 30, 2: 30 }), 'log ends', ends)
      const c = await committed(admin, groupId, topic)
      assert(JSON.stringify(c) === JSON.stringify(ends), 'committed offsets at the log end', c, ends)
      const g = await describe(admin, groupId)
      assert(g.state === 'Empty' && g.members.length === 0, 'group empty after members left', g.state)
      const redelivered = events.filter(e => e.type === 'msg').length - seenBy().size
      console.log(`every one of ${written.length} messages seen; ${redelivered} redelivered (at least once)`)
    })
  } finally {
    for (const m of Object.values(members)) if (m.exitCode === null && m.signalCode === null) m.kill('SIGKILL')
  }
}

// ------------------------------------------------------------------ committed offsets + restart

const durableTopic = 'durable-topic'
const durableGroup = 'durable-group'

async function commitAt (offsets, startAt) {
  // Joins the group, checks where each partition starts, commits `offsets`, leaves.
  const firstSeen = {}
  const wantPartitions = Object.keys(startAt).map(Number)
  await consumeUntil({ groupId: durableGroup }, { topics: [durableTopic], fromBeginning: true }, seen => {
    for (const m of seen) if (!(m.partition in firstSeen)) firstSeen[m.partition] = m.offset
    return wantPartitions.every(p => p in firstSeen)
  }, { autoCommit: false })
  for (const p of wantPartitions) assert(firstSeen[p] === startAt[p], 'starts at committed offset', p, firstSeen, startAt)
  // Commit through a group member (generation-checked commit), then leave.
  const consumer = kafka.consumer({ groupId: durableGroup, heartbeatInterval: 500, maxWaitTimeInMs: 300 })
  await consumer.connect()
  await consumer.subscribe({ topics: [durableTopic], fromBeginning: true })
  let joined = false
  consumer.on(consumer.events.GROUP_JOIN, () => { joined = true })
  await consumer.run({ autoCommit: false, eachMessage: async () => { await sleep(50) } })
  await until('joined', async () => joined)
  await consumer.commitOffsets(Object.entries(offsets).map(([p, o]) => ({ topic: durableTopic, partition: Number(p), offset: String(o) })))
  await consumer.disconnect()
}

async function commit1 () {
  await withAdmin(admin => createTopic(admin, durableTopic, 2))
  await produceSome(durableTopic, 2, 40, 'durable')
  await commitAt({ 0: 5, 1: 7 }, { 0: 0, 1: 0 })
  await withAdmin(async admin => {
    const c = await committed(admin, durableGroup, durableTopic)
    assert(c[0] === 5 && c[1] === 7, 'committed before restart', c)
  })
}

async function check1 () {
  await withAdmin(async admin => {
    const c = await committed(admin, durableGroup, durableTopic)
    assert(c[0] === 5 && c[1] === 7, 'committed after SIGTERM restart', c)
  })
  await commitAt({ 0: 12, 1: 20 }, { 0: 5, 1: 7 })
}

async function check2 () {
  await withAdmin(async admin => {
    const c = await committed(admin, durableGroup, durableTopic)
    assert(c[0] === 12 && c[1] === 20, 'committed after SIGKILL restart', c)
  })
  // Partition 1 is fully consumed: the next message written there is the first one seen.
  const more = await produceSome(durableTopic, 2, 2, 'late')
  const p1 = more.find(m => m.partition === 1)
  assert(p1.offset === 20, 'late offset', p1)
  await commitAt({ 0: 21, 1: 21 }, { 0: 12, 1: 20 })
}

// -------------------------------------------------------------------------------------- replay

async function replay () {
  const topic = 'replay-topic'
  await withAdmin(admin => createTopic(admin, topic, 2))
  const t0 = Date.now() - 60000
  const old = await produceSome(topic, 2, 20, 'old', { timestamp: t0 })
  const t1 = t0 + 30000
  const recent = await produceSome(topic, 2, 20, 'recent', { timestamp: t1 })
  const all = [...old, ...recent]
  // Consume everything once (commits at the end).
  const first = await consumeUntil({ groupId: 'replay-group' }, { topics: [topic], fromBeginning: true }, s => s.length >= all.length)
  checkExact(first, all, 'first pass')
  // Seek to the beginning while running: everything again.
  const again = await consumeUntil({ groupId: 'replay-group' }, { topics: [topic] }, s => s.filter(m => m.value.startsWith('old-value')).length >= old.length && s.length >= all.length, {
    onRunning: consumer => { for (const p of [0, 1]) consumer.seek({ topic, partition: p, offset: '0' }) }
  })
  checkExact(again, all, 'replay from beginning')
  // Seek to a timestamp: the first offset per partition with timestamp >= t1.
  const byTime = await withAdmin(admin => admin.fetchTopicOffsetsByTimestamp(topic, t1))
  const want = {}
  for (const m of recent) want[m.partition] = Math.min(want[m.partition] ?? Infinity, m.offset)
  for (const o of byTime) assert(Number(o.offset) === want[o.partition], 'offset for timestamp', byTime, want)
  const betweenT = await withAdmin(admin => admin.fetchTopicOffsetsByTimestamp(topic, t0 + 1))
  for (const o of betweenT) assert(Number(o.offset) === want[o.partition], 'offset for timestamp between', betweenT, want)
  const future = await withAdmin(admin => admin.fetchTopicOffsetsByTimestamp(topic, Date.now() + 3600000))
  for (const o of future) assert(Number(o.offset) === 20, 'offset for a future timestamp is the log end', future)
  const fromTime = await consumeUntil({ groupId: 'replay-group' }, { topics: [topic] }, s => s.length >= recent.length, {
    onRunning: consumer => { for (const o of byTime) consumer.seek({ topic, partition: o.partition, offset: o.offset }) }
  })
  checkExact(fromTime, recent, 'replay from timestamp')
  for (const m of fromTime) assert(m.timestamp === t1, 'timestamp kept', m)
}

// --------------------------------------------------------------------------------------- admin

async function adminView () {
  const topic = 'lag-topic'
  const groupId = 'lag-group'
  await withAdmin(admin => createTopic(admin, topic, 2))
  await produceSome(topic, 2, 20, 'lag')
  // Consume 6 per partition and commit exactly that, then stay in the group.
  const consumer = kafka.consumer({ groupId, heartbeatInterval: 500, maxWaitTimeInMs: 300 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const count = { 0: 0, 1: 0 }
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      if (count[partition] >= 6) { consumer.pause([{ topic, partitions: [partition] }]); return }
      count[partition]++
      if (count[partition] === 6) await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }])
    }
  })
  try {
    await withAdmin(async admin => {
      await until('commits done', async () => {
        const c = await committed(admin, groupId, topic)
        return c[0] === 6 && c[1] === 6
      })
      const g = await until('stable group', async () => {
        const g = await describe(admin, groupId)
        return g.state === 'Stable' && g.members.length === 1 ? g : null
      })
      assert(g.protocolType === 'consumer' && g.protocol === 'RoundRobinAssigner', 'protocol', g.protocolType, g.protocol)
      const m = g.members[0]
      assert(m.clientId === 'sluice-group-test' && m.clientHost.includes('127.0.0.1'), 'member identity', m.clientId, m.clientHost)
      assert(JSON.stringify(partitionsOf(g.assignments[0].assignment, topic)) === '[0,1]', 'assignment', g.assignments)
      const meta = AssignerProtocol.MemberMetadata.decode(m.memberMetadata)
      assert(meta.topics.includes(topic), 'member metadata', meta)
      const ends = await logEnds(admin, topic)
      const c = await committed(admin, groupId, topic)
      const lag = Object.fromEntries(Object.keys(ends).map(p => [p, ends[p] - c[p]]))
      console.log('lag-group:', g.state, g.members.length, 'member(s), lag', JSON.stringify(lag))
      assert(lag[0] === 4 && lag[1] === 4, 'lag', lag)
      const groups = (await admin.listGroups()).groups.map(x => x.groupId)
      assert(groups.includes(groupId), 'listGroups', groups)
      // A group nobody ever used: fetchOffsets reports -1, describe says Dead.
      const none = await committed(admin, 'never-used-group', topic)
      assert(none[0] === -1 && none[1] === -1, 'unknown group offsets', none)
      const dead = await describe(admin, 'never-used-group')
      assert(dead.state === 'Dead' && dead.members.length === 0, 'unknown group state', dead.state)
      // Deleting a group with members fails (NON_EMPTY_GROUP).
      let failed = false
      try { await admin.deleteGroups([groupId]) } catch (e) { failed = true }
      assert(failed, 'deleteGroups of a live group must fail')
    })
  } finally {
    await consumer.disconnect()
  }
  await withAdmin(async admin => {
    const g = await describe(admin, groupId)
    assert(g.state === 'Empty', 'empty after disconnect', g.state)
    const res = await admin.deleteGroups([groupId])
    assert(res[0].errorCode === 0, 'deleteGroups', res)
    const none = await committed(admin, groupId, topic)
    assert(none[0] === -1 && none[1] === -1, 'offsets gone after delete', none)
  })
}

const scenarios = { classic, split, commit1, check1, check2, replay, admin: adminView, member }
if (!scenarios[scenario]) { console.error('unknown scenario', scenario); process.exit(2) }
scenarios[scenario]().then(
  () => { if (scenario !== 'member') { console.log(`kafkajs ${scenario} ok`); process.exit(0) } },
  e => { console.error(e); process.exit(1) })
