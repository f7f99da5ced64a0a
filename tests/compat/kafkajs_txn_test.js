// kafkajs 2.2.4 transactions: producer.transaction() send + commit is visible to a read_committed
// consumer, send + abort is not (a read_uncommitted consumer sees both); sendOffsets commits a
// group's offsets with the transaction and only with its commit. Broker address: argv[2].
const { Kafka, logLevel } = require('kafkajs')

const bootstrap = process.argv[2]
const topic = 'kafkajs-txn'

async function readAll (kafka, readUncommitted, expected) {
  const consumer = kafka.consumer({ groupId: `reader-${readUncommitted}-${Date.now()}`, readUncommitted })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const seen = []
  await new Promise((resolve, reject) => {
    let quiet = null
    const timer = setTimeout(() => reject(new Error(`timeout: saw ${seen.length} of ${expected}: ${seen}`)), 30000)
    const check = () => {
      if (seen.length >= expected) {
        clearTimeout(quiet)
        quiet = setTimeout(() => { clearTimeout(timer); resolve() }, 1500)
      }
    }
    consumer.run({ eachMessage: async ({ message }) => { seen.push(message.value.toString()); check() } })
    check()
  })
  await consumer.disconnect()
  return seen.sort()
}

async function main () {
  const kafka = new Kafka({ clientId: 'sluice-txn', brokers: [bootstrap], logLevel: logLevel.ERROR, retry: { retries: 8 } })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })

  const producer = kafka.producer({ transactionalId: 'kafkajs-txn-1', idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  let txn = await producer.transaction()
  await txn.send({ topic, messages: [0, 1, 2, 3].map(i => ({ value: `c${i}`, partition: i % 2 })) })
  await txn.sendOffsets({ consumerGroupId: 'kafkajs-txn-group', topics: [{ topic, partitions: [{ partition: 0, offset: '7' }] }] })
  await txn.commit()
  txn = await producer.transaction()
  await txn.send({ topic, messages: [0, 1].map(i => ({ value: `a${i}`, partition: i % 2 })) })
  await txn.sendOffsets({ consumerGroupId: 'kafkajs-txn-group', topics: [{ topic, partitions: [{ partition: 0, offset: '99' }] }] })
  await txn.abort()
  await producer.disconnect()

  const committed = await readAll(kafka, false, 4)
  const want = ['c0', 'c1', 'c2', 'c3']
  if (JSON.stringify(committed) !== JSON.stringify(want)) throw new Error(`read_committed saw ${committed}`)
  const all = await readAll(kafka, true, 6)
  const wantAll = ['a0', 'a1', 'c0', 'c1', 'c2', 'c3']
  if (JSON.stringify(all) !== JSON.stringify(wantAll)) throw new Error(`read_uncommitted saw ${all}`)
  const offsets = await admin.fetchOffsets({ groupId: 'kafkajs-txn-group', topics: [topic] })
  const p0 = offsets[0].partitions.find(p => p.partition === 0)
  if (p0.offset !== '7') throw new Error(`group offset after commit + abort: ${JSON.stringify(offsets)}`)
  await admin.disconnect()
  console.log('kafkajs transactions ok')
}

main().catch(e => { console.error(e); process.exit(1) })
