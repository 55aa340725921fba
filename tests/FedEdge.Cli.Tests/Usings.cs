global using FedEdge.Testing;
