using System.Text;
using FedEdge.Flower.Objects;
using FedEdge.Flower.Wire;
using FsCheck.Xunit;

namespace FedEdge.Flower.Tests;

public sealed class NpyAndObjectTests
{
    private static int[] Shape(int seed)
    {
        var random = new Random(seed);
        int rank = random.Next(0, 5);
        return Enumerable.Range(0, rank).Select(_ => random.Next(0, 7)).ToArray();
    }

    [Property(MaxTest = 200)]
    public bool Npy_Float32_RoundTripsShapeAndBits(int seed)
    {
        int[] shape = Shape(seed);
        var random = new Random(seed);
        float[] values = Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(_ => (float)((random.NextDouble() - 0.5) * 1e6)).ToArray();
        byte[] file = Npy.Write(values, shape);
        NpyArray back = Npy.Read(file);
        return (file.Length - values.Length * 4) % 64 == 0
            && back.Dtype == NpyDtype.Float32
            && back.Shape.SequenceEqual(shape)
            && back.Values.Select(v => (float)v).SequenceEqual(values);
    }

    [Property(MaxTest = 200)]
    public bool Npy_Float64_RoundTripsShapeAndBits(int seed)
    {
        int[] shape = Shape(seed);
        var random = new Random(seed);
        double[] values = Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(_ => (random.NextDouble() - 0.5) * 1e300).ToArray();
        NpyArray back = Npy.Read(Npy.Write(NpyDtype.Float64, shape, values));
        return back.Dtype == NpyDtype.Float64 && back.Shape.SequenceEqual(shape) && back.Values.SequenceEqual(values);
    }

    [Theory]
    [InlineData("<i8")]
    [InlineData("<f2")]
    [InlineData(">f4")]
    [InlineData("|u1")]
    [InlineData("|b1")]
    public void Npy_OtherDtype_RefusedWithTypedError(string descr)
    {
        byte[] file = Npy.Write([1f, 2f], [2]);
        string header = Encoding.ASCII.GetString(file, 10, file.Length - 18).Replace("'<f4'", $"'{descr}'", StringComparison.Ordinal);
        byte[] patched = [.. file[..10], .. Encoding.ASCII.GetBytes(header), .. file[^8..]];

        NpyFormatException error = Assert.Throws<NpyFormatException>(() => Npy.Read(patched));
        Assert.Equal(descr, error.Dtype);
        Assert.Contains("float32 and float64", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("int64")]
    [InlineData("float16")]
    [InlineData("bool")]
    public void FlowerDtype_OtherThanFloat_RefusedWithTypedError(string dtype)
    {
        NpyFormatException error = Assert.Throws<NpyFormatException>(() => Npy.FromFlowerName(dtype));
        Assert.Equal(dtype, error.Dtype);
    }

    [Fact]
    public void Npy_FortranOrderOrTruncated_Refused()
    {
        byte[] file = Npy.Write([1f, 2f, 3f, 4f], [2, 2]);
        byte[] fortran = (byte[])file.Clone();
        Encoding.ASCII.GetBytes("True, ").CopyTo(fortran, Encoding.ASCII.GetString(fortran).IndexOf("False", StringComparison.Ordinal));
        Assert.Throws<NpyFormatException>(() => Npy.Read(fortran));
        Assert.Throws<NpyFormatException>(() => Npy.Read(file[..^1]));
        Assert.Throws<NpyFormatException>(() => Npy.Read(file[..5]));
    }

    [Fact]
    public void Deflate_LargeArray_SplitsIntoChunksAndInflatesBack()
    {
        float[] values = Enumerable.Range(0, 3000).Select(i => (float)(i % 7)).ToArray();
        var array = new FlowerArray("float32", [3000], FlowerArray.NumpyStype, Npy.Write(values, [3000]));
        var message = new FlowerMessage(new Envelope { RunId = 1, MessageType = "train", Ttl = 10, CreatedAt = 1 }, new FlowerRecordDict([new("a", new FlowerArrayRecord([new("w", array)]))]), null);

        DeflatedMessage deflated = ObjectTreeWriter.Deflate(message, maxChunkBytes: 1000);
        int chunks = deflated.Objects.Values.Count(b => ObjectCodec.Parse(b).ClassName == ObjectCodec.ArrayChunk);
        Assert.True(chunks is > 1 and <= 13, $"{chunks} chunks");
        Assert.All(deflated.Objects.Values.Where(b => ObjectCodec.Parse(b).ClassName == ObjectCodec.ArrayChunk), b => Assert.True(ObjectCodec.Parse(b).Body.Length <= 1000));

        FlowerMessage back = ObjectTreeReader.Inflate(deflated.Tree, deflated.Objects);
        var record = (FlowerArrayRecord)back.Content!.Items[0].Value;
        Assert.Equal(array.Data, record.Items[0].Value.Data);
    }

    [Property(MaxTest = 100)]
    public bool DeflateInflate_RandomRecords_RoundTripWithSameIds(int seed)
    {
        var random = new Random(seed);
        string Key() => new(Enumerable.Range(0, random.Next(1, 6)).Select(_ => "aZ9-_é\"\\ \u00ff\u4e2d"[random.Next(11)]).ToArray());
        var items = new List<KeyValuePair<string, FlowerRecord>>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (int r = random.Next(1, 4); r > 0; r--)
        {
            string key = Key();
            if (!used.Add(key))
            {
                continue;
            }

            FlowerRecord record = random.Next(3) switch
            {
                0 => new FlowerArrayRecord(Enumerable.Range(0, random.Next(1, 3)).Select(i =>
                {
                    int[] shape = Shape(random.Next());
                    double[] values = Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(_ => random.NextDouble()).ToArray();
                    NpyDtype dtype = random.Next(2) == 0 ? NpyDtype.Float32 : NpyDtype.Float64;
                    return new KeyValuePair<string, FlowerArray>("t" + i, new FlowerArray(Npy.FlowerName(dtype), shape, FlowerArray.NumpyStype, Npy.Write(dtype, shape, values)));
                }).ToList()),
                1 => new FlowerMetricRecord([new(Key(), FlowerValues.Metric((long)random.Next(-1000, 1000))), new("x" + Key(), FlowerValues.Metric(random.NextDouble()))]),
                _ => new FlowerConfigRecord([new(Key(), FlowerValues.Config(Key())), new("b" + Key(), FlowerValues.Config(random.Next(2) == 0))]),
            };
            items.Add(new(key, record));
        }

        var message = new FlowerMessage(new Envelope { RunId = (ulong)random.Next(), MessageType = "train", Ttl = 60, CreatedAt = 1.8e9, SrcNodeId = 1, DstNodeId = 2 }, new FlowerRecordDict(items), null);
        DeflatedMessage deflated = ObjectTreeWriter.Deflate(message, maxChunkBytes: random.Next(1, 400));
        FlowerMessage back = ObjectTreeReader.Inflate(deflated.Tree, deflated.Objects);
        DeflatedMessage again = ObjectTreeWriter.Deflate(back, maxChunkBytes: int.MaxValue);
        DeflatedMessage once = ObjectTreeWriter.Deflate(message, maxChunkBytes: int.MaxValue);
        return again.MessageId == once.MessageId
            && back.Content!.Items.Select(i => i.Key).SequenceEqual(items.Select(i => i.Key))
            && deflated.Objects.All(p => ObjectCodec.Id(p.Value) == p.Key);
    }

    [Fact]
    public void Inflate_TamperedObject_Refused()
    {
        var array = new FlowerArray("float32", [2], FlowerArray.NumpyStype, Npy.Write([1f, 2f], [2]));
        var message = new FlowerMessage(new Envelope { RunId = 1, MessageType = "train", Ttl = 10, CreatedAt = 1 }, new FlowerRecordDict([new("a", new FlowerArrayRecord([new("w", array)]))]), null);
        DeflatedMessage deflated = ObjectTreeWriter.Deflate(message);
        var objects = deflated.Objects.ToDictionary(p => p.Key, p => (byte[])p.Value.Clone());
        string chunk = deflated.PostOrder[0];
        objects[chunk][^1] ^= 0x01;

        FlowerProtocolException error = Assert.Throws<FlowerProtocolException>(() => ObjectTreeReader.Inflate(deflated.Tree, objects));
        Assert.Contains("tampered", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Array abc 3\0xyz")]
    [InlineData("ArrayChunk  5\0abc")]
    [InlineData("no zero byte")]
    [InlineData("A B C D\0")]
    public void Parse_MalformedHead_Refused(string content) =>
        Assert.Throws<FlowerProtocolException>(() => ObjectCodec.Parse(Encoding.UTF8.GetBytes(content)));

    [Property(MaxTest = 200)]
    public bool Parse_RandomBytes_NeverCrashesUntyped(byte[] bytes)
    {
        try
        {
            ObjectCodec.Parse(bytes ?? []);
            return true;
        }
        catch (FlowerProtocolException)
        {
            return true;
        }
    }
}
