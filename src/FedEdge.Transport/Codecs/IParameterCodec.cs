namespace FedEdge.Transport.Codecs;

/// <summary>How parameter values travel on the wire.</summary>
public enum ParameterCodecKind
{
    /// <summary>IEEE 754 float32, packed little-endian: exact, 4 bytes per value.</summary>
    Float32 = 0,

    /// <summary>IEEE 754 float16 (half), little-endian: 2 bytes per value; relative error at most 2^-11 within ±65504.</summary>
    Float16 = 1,

    /// <summary>Affine 8-bit quantisation per tensor (min and scale as float32, then one byte per value): absolute error at most scale/2.</summary>
    Int8 = 2,

    /// <summary>Top-k sparsification by magnitude (index and float32 value of the k largest); for deltas, with client-side error feedback.</summary>
    TopK = 3,

    /// <summary>Sparse float16: a bitmap of the non-zero positions, then their float16 values (pruned MEDNN models and their deltas).</summary>
    SparseFloat16 = 4,
}

/// <summary>Encodes the values of a <see cref="ParameterSet"/> into bytes and back. The layout travels separately.</summary>
public interface IParameterCodec
{
    /// <summary>The codec's wire identifier.</summary>
    ParameterCodecKind Kind { get; }

    /// <summary>Encodes the values of <paramref name="parameters"/>.</summary>
    /// <exception cref="ParameterCodecException">The values cannot be represented by this codec.</exception>
    byte[] Encode(ParameterSet parameters);

    /// <summary>Decodes values for <paramref name="layout"/>.</summary>
    /// <exception cref="WireFormatException">The bytes do not match the layout or the codec's format.</exception>
    ParameterSet Decode(ParameterLayout layout, ReadOnlySpan<byte> data);
}
