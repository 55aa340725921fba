using System.IO.Compression;
using System.Text;

namespace FedEdge.Data;

/// <summary>Opens a text file for streaming, decompressing gzip when the file starts with the gzip magic bytes; a <c>.gz</c> name on a file that is not gzip is a <see cref="DataFormatException"/>.</summary>
internal static class TextLines
{
    public static StreamReader Open(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Data file '{path}' does not exist.", path);
        }

        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        try
        {
            Span<byte> magic = stackalloc byte[2];
            int read = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
            file.Position = 0;
            bool gzip = read == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
            if (!gzip && path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
            {
                // A name that promises gzip on a file that is not: say so instead of reading it silently.
                throw new DataFormatException(path, 0, "the file is named .gz but is not gzip-compressed (it does not start with the gzip magic bytes 1f 8b); rename it or compress it");
            }

            Stream stream = gzip ? new GZipStream(file, CompressionMode.Decompress, leaveOpen: false) : file;
            return new StreamReader(stream, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}
