"""xDS in its own process (threads, grpcio, no gevent): client XdsClient; subscription one type;
sotw, delta: sans-IO state; grpc/rest_transport, file_source: IO on a
source_thread each; convert, resources; catalog."""
