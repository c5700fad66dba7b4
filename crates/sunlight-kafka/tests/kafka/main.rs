//! Tests of the live pipeline against Kafka-protocol brokers: librdkafka's in-process
//! mock cluster (fast, failure injection) and a real broker process (tansu).

mod casework;
mod durable_cases;
mod lanes;
mod mock_cluster;
mod real_broker;
mod repartition;
mod state;
mod support;
mod tansu;
