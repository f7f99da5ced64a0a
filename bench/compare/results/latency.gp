set terminal pngcairo size 1200,700 font ",10"
set output "latency.png"
set logscale xy
set xlabel "percentile"
set ylabel "end-to-end latency (us)"
set grid
set title "End-to-end latency, 10000 msg/s x 100 B, open loop (loopback)"
set key outside right
set xtics ("50%%" 2, "90%%" 10, "99%%" 100, "99.9%%" 1000, "99.99%%" 10000, "99.999%%" 100000)
set xrange [1.5:200000]
plot "sluice-acks-1-durable.hgrm" using (($1<100)?1/(1-$1/100):150000):2 with linespoints title "sluice-acks-1-durable", \
  "sluice-acks1-appended.hgrm" using (($1<100)?1/(1-$1/100):150000):2 with linespoints title "sluice-acks1-appended", \
  "sluice-acks-1-durable-librdkafka.hgrm" using (($1<100)?1/(1-$1/100):150000):2 with linespoints title "sluice-acks-1-durable-librdkafka", \
  "sluice-acks-1-durable-poll50.hgrm" using (($1<100)?1/(1-$1/100):150000):2 with linespoints title "sluice-acks-1-durable-poll50", \
  "sluice-acks1-appended-poll50.hgrm" using (($1<100)?1/(1-$1/100):150000):2 with linespoints title "sluice-acks1-appended-poll50", \
  "redis-aof-everysec.hgrm" using (($1<100)?1/(1-$1/100):150000):2 with linespoints title "redis-aof-everysec", \
  "redis-aof-always.hgrm" using (($1<100)?1/(1-$1/100):150000):2 with linespoints title "redis-aof-always", \
  "nats-jetstream-file.hgrm" using (($1<100)?1/(1-$1/100):150000):2 with linespoints title "nats-jetstream-file", \
  "rabbitmq-durable-confirms.hgrm" using (($1<100)?1/(1-$1/100):150000):2 with linespoints title "rabbitmq-durable-confirms"
