/// What can go wrong talking to the broker.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to the broker")]
    Connect(#[source] lapin::Error),
    #[error("broker operation failed")]
    Amqp(#[source] lapin::Error),
    #[error("the broker refused (nacked) the message {0}")]
    Nacked(String),
    #[error("no queue is bound for routing key `{0}`; the message was returned")]
    Unroutable(String),
    #[error("the channel closed under a consumer")]
    ChannelClosed,
    #[error("cannot serialize the event")]
    Serialize(#[source] serde_json::Error),
}
