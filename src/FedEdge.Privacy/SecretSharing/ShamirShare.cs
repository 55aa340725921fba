namespace FedEdge.Privacy.SecretSharing;

/// <summary>
/// One Shamir share of a vector of field elements: the evaluation at <see cref="X"/> of one
/// random polynomial per element whose constant term is that element of the secret.
/// </summary>
/// <param name="X">The evaluation point, 1 ≤ X &lt; 2^61 − 1 (never 0, which is the secret).</param>
/// <param name="Values">The polynomial values at <paramref name="X"/>, one per secret element.</param>
public sealed record ShamirShare(long X, ulong[] Values);
