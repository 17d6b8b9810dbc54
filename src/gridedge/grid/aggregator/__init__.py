"""The energy service provider / aggregator: gridedge's OpenADR 3.0.1 VTN and the business logic
that publishes dynamic tariffs and capacity limits through it (docs/openadr.md)."""
