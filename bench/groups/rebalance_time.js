// Rebalance time with kafkajs: two members consume a 12-partition topic; a third joins. Reports
// the time from the third member's run() until every member has joined the new generation and
// fetched. Usage: node rebalance_time.js HOST:PORT [heartbeatIntervalMs]
// (run from tests/compat so kafkajs resolves: NODE_PATH=tests/compat/node_modules)
const { Kafka, logLevel } = require('kafkajs')
const bootstrap = process.argv[2]
const heartbeatInterval = Number(process.argv[3] || 3000)
const topic = `rebalance-${Date.now()}`
const groupId = `rebalance-group-${Date.now()}`

async function main () {
  const kafka = new Kafka({ clientId: 'rebalance-bench', brokers: [bootstrap], logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 12 }] })
  await admin.disconnect()
  const members = []
  const joins = new Map()     // member index -> last generation joined
  const fetched = new Map()   // member index -> time of first fetch after its last join
  function start (i) {
    const c = kafka.consumer({ groupId, heartbeatInterval, sessionTimeout: 10000, rebalanceTimeout: 10000 })
    c.on(c.events.GROUP_JOIN, e => { joins.set(i, { at: Date.now(), gen: e.payload }); fetched.delete(i) })
    c.on(c.events.FETCH_START, () => { if (joins.has(i) && !fetched.has(i)) fetched.set(i, Date.now()) })
    members.push(c)
    return c.connect().then(() => c.subscribe({ topic, fromBeginning: true })).then(() => c.run({ eachMessage: async () => {} }))
  }
  await start(0); await start(1)
  const settle = Date.now() + 20000
  while ((fetched.size < 2) && Date.now() < settle) await new Promise(r => setTimeout(r, 20))
  await new Promise(r => setTimeout(r, heartbeatInterval + 500))
  joins.clear(); fetched.clear()
  const t0 = Date.now()
  await start(2)
  const deadline = t0 + 60000
  while (fetched.size < 3 && Date.now() < deadline) await new Promise(r => setTimeout(r, 5))
  const t1 = Math.max(...fetched.values())
  console.log(JSON.stringify({ partitions: 12, members: 3, heartbeat_interval_ms: heartbeatInterval,
    rebalance_ms: fetched.size === 3 ? t1 - t0 : null, all_fetching: fetched.size === 3 }))
  await Promise.all(members.map(m => m.disconnect()))
}
main().catch(e => { console.error(e); process.exit(1) })
