using System.Runtime.InteropServices;

namespace Engine;

/// <summary>
/// Opens files the user names: a missing path, a directory, or something that is not a regular file (a FIFO,
/// which would block the read forever, a device, a socket) is refused with an error that names it.
/// </summary>
public static partial class InputFile
{
    /// <summary>How the engine parses JSON it did not write: a key given twice is an error, not a silent choice of one value.</summary>
    public static System.Text.Json.JsonDocumentOptions StrictJson(int maxDepth = 64) =>
        new() { AllowDuplicateProperties = false, MaxDepth = maxDepth };

    /// <summary>
    /// What <paramref name="path"/> is, for a message about a path that should have been a directory and is not one: "is a
    /// symbolic link that loops", "is a symbolic link to 'X', which does not exist", "is a file", or null when nothing is there.
    /// </summary>
    public static string? DescribeNonDirectory(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (BrokenLink(path, out _) is { } broken) return broken;
        return File.Exists(path) ? (IsRegular(path) ? "is a file" : "is a FIFO, device or socket") : null;
    }

    /// <summary>"is a symbolic link that loops" or "… to 'X', which does not exist" when <paramref name="path"/> is such a link.</summary>
    static string? BrokenLink(string path, out bool loops)
    {
        loops = false;
        var info = new FileInfo(path);
        if (info.LinkTarget is not { } target) return null;
        try
        {
            var final = info.ResolveLinkTarget(returnFinalTarget: true);
            return final is null || !final.Exists ? $"is a symbolic link to '{target}', which does not exist" : null;
        }
        catch (IOException)
        {
            loops = true;
            return "is a symbolic link that loops";
        }
    }

    /// <summary>Throws unless <paramref name="path"/> is an existing regular file; <paramref name="what"/> names it in the message.</summary>
    public static void Check(string path, string what)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) throw new IOException($"{what} '{path}' is a directory, not a file");
        if (BrokenLink(path, out bool loops) is { } broken)
            throw loops ? new IOException($"{what} '{path}' {broken}") : new FileNotFoundException($"{what} '{path}' {broken}", path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{what} '{path}' not found", path);
        if (!IsRegular(path)) throw new IOException($"{what} '{path}' is not a regular file (a FIFO, device or socket); refusing to read it");
    }

    /// <summary>
    /// The text of <paramref name="path"/>, after <see cref="Check"/>; a file too large for the memory available (its bytes and
    /// its UTF-16 copy) is refused before it is read.
    /// </summary>
    public static string ReadAllText(string path, string what) => ReadAllText(path, what, out _);

    /// <summary>As <see cref="ReadAllText(string, string)"/>, with the bytes the text was decoded from (to hash or copy them).</summary>
    public static string ReadAllText(string path, string what, out byte[] bytes)
    {
        bytes = Read(path, what, copies: 3);
        return DecodeUtf8(bytes, path, what);
    }

    /// <summary>
    /// The bytes of <paramref name="path"/>, after <see cref="Check"/>; a file too large for the memory available is refused before
    /// it is read.
    /// </summary>
    public static byte[] ReadAllBytes(string path, string what) => Read(path, what, copies: 1);

    /// <summary>The bytes of <paramref name="path"/>, once the memory for <paramref name="copies"/> times their size is there.</summary>
    static byte[] Read(string path, string what, double copies)
    {
        Check(path, what);
        HostMemory.Require(new FileInfo(path).Length * copies, $"{what} '{path}'");
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"{what} '{path}' cannot be read: {e.Message}", e);
        }
    }

    /// <summary>
    /// <paramref name="bytes"/>, read from <paramref name="path"/>, as strict UTF-8 without its byte-order mark: an invalid sequence is
    /// an error that names the file and the sequence's byte offset.
    /// </summary>
    static string DecodeUtf8(ReadOnlySpan<byte> bytes, string path, string what)
    {
        int start = bytes.StartsWith("\uFEFF"u8) ? 3 : 0;
        var chars = new char[bytes.Length - start];
        var status = System.Text.Unicode.Utf8.ToUtf16(bytes[start..], chars, out int read, out int written, replaceInvalidSequences: false);
        if (status != System.Buffers.OperationStatus.Done)
            throw new IOException($"{what} '{path}' is not valid UTF-8 text (an invalid sequence at byte {start + read})");
        return new string(chars, 0, written);
    }

    /// <summary>A read-only stream over <paramref name="path"/>, after <see cref="Check"/>.</summary>
    public static FileStream OpenRead(string path, string what)
    {
        Check(path, what);
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"{what} '{path}' cannot be read: {e.Message}", e);
        }
    }

    // The runtime's own stat wrapper reports the type in portable bits on every Unix it supports.
    const int TypeMask = 0xF000, Regular = 0x8000;

    [StructLayout(LayoutKind.Sequential, Size = 512)]
    struct FileStatus
    {
        public int Flags;
        public int Mode;
    }

    [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Stat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, out FileStatus status);

    static bool IsRegular(string path)
    {
        if (OperatingSystem.IsWindows()) return true;
        try
        {
            return Stat(path, out var status) != 0 || (status.Mode & TypeMask) == Regular;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return true;
        }
    }
}
