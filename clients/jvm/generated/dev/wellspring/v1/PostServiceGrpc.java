package dev.wellspring.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * Posts: the standard methods (AIP-131..135), batch get (AIP-231) and bulk
 * import/export.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: wellspring/v1/post_service.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class PostServiceGrpc {

  private PostServiceGrpc() {}

  public static final String SERVICE_NAME = "wellspring.v1.PostService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.GetPostRequest,
      dev.wellspring.v1.Post> getGetPostMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetPost",
      requestType = dev.wellspring.v1.GetPostRequest.class,
      responseType = dev.wellspring.v1.Post.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.GetPostRequest,
      dev.wellspring.v1.Post> getGetPostMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.GetPostRequest, dev.wellspring.v1.Post> getGetPostMethod;
    if ((getGetPostMethod = PostServiceGrpc.getGetPostMethod) == null) {
      synchronized (PostServiceGrpc.class) {
        if ((getGetPostMethod = PostServiceGrpc.getGetPostMethod) == null) {
          PostServiceGrpc.getGetPostMethod = getGetPostMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.GetPostRequest, dev.wellspring.v1.Post>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetPost"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.GetPostRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.Post.getDefaultInstance()))
              .setSchemaDescriptor(new PostServiceMethodDescriptorSupplier("GetPost"))
              .build();
        }
      }
    }
    return getGetPostMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.BatchGetPostsRequest,
      dev.wellspring.v1.BatchGetPostsResponse> getBatchGetPostsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "BatchGetPosts",
      requestType = dev.wellspring.v1.BatchGetPostsRequest.class,
      responseType = dev.wellspring.v1.BatchGetPostsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.BatchGetPostsRequest,
      dev.wellspring.v1.BatchGetPostsResponse> getBatchGetPostsMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.BatchGetPostsRequest, dev.wellspring.v1.BatchGetPostsResponse> getBatchGetPostsMethod;
    if ((getBatchGetPostsMethod = PostServiceGrpc.getBatchGetPostsMethod) == null) {
      synchronized (PostServiceGrpc.class) {
        if ((getBatchGetPostsMethod = PostServiceGrpc.getBatchGetPostsMethod) == null) {
          PostServiceGrpc.getBatchGetPostsMethod = getBatchGetPostsMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.BatchGetPostsRequest, dev.wellspring.v1.BatchGetPostsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "BatchGetPosts"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.BatchGetPostsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.BatchGetPostsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new PostServiceMethodDescriptorSupplier("BatchGetPosts"))
              .build();
        }
      }
    }
    return getBatchGetPostsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.ListPostsRequest,
      dev.wellspring.v1.ListPostsResponse> getListPostsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListPosts",
      requestType = dev.wellspring.v1.ListPostsRequest.class,
      responseType = dev.wellspring.v1.ListPostsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.ListPostsRequest,
      dev.wellspring.v1.ListPostsResponse> getListPostsMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.ListPostsRequest, dev.wellspring.v1.ListPostsResponse> getListPostsMethod;
    if ((getListPostsMethod = PostServiceGrpc.getListPostsMethod) == null) {
      synchronized (PostServiceGrpc.class) {
        if ((getListPostsMethod = PostServiceGrpc.getListPostsMethod) == null) {
          PostServiceGrpc.getListPostsMethod = getListPostsMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.ListPostsRequest, dev.wellspring.v1.ListPostsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListPosts"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ListPostsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ListPostsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new PostServiceMethodDescriptorSupplier("ListPosts"))
              .build();
        }
      }
    }
    return getListPostsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.CreatePostRequest,
      dev.wellspring.v1.Post> getCreatePostMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CreatePost",
      requestType = dev.wellspring.v1.CreatePostRequest.class,
      responseType = dev.wellspring.v1.Post.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.CreatePostRequest,
      dev.wellspring.v1.Post> getCreatePostMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.CreatePostRequest, dev.wellspring.v1.Post> getCreatePostMethod;
    if ((getCreatePostMethod = PostServiceGrpc.getCreatePostMethod) == null) {
      synchronized (PostServiceGrpc.class) {
        if ((getCreatePostMethod = PostServiceGrpc.getCreatePostMethod) == null) {
          PostServiceGrpc.getCreatePostMethod = getCreatePostMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.CreatePostRequest, dev.wellspring.v1.Post>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CreatePost"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.CreatePostRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.Post.getDefaultInstance()))
              .setSchemaDescriptor(new PostServiceMethodDescriptorSupplier("CreatePost"))
              .build();
        }
      }
    }
    return getCreatePostMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.UpdatePostRequest,
      dev.wellspring.v1.Post> getUpdatePostMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "UpdatePost",
      requestType = dev.wellspring.v1.UpdatePostRequest.class,
      responseType = dev.wellspring.v1.Post.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.UpdatePostRequest,
      dev.wellspring.v1.Post> getUpdatePostMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.UpdatePostRequest, dev.wellspring.v1.Post> getUpdatePostMethod;
    if ((getUpdatePostMethod = PostServiceGrpc.getUpdatePostMethod) == null) {
      synchronized (PostServiceGrpc.class) {
        if ((getUpdatePostMethod = PostServiceGrpc.getUpdatePostMethod) == null) {
          PostServiceGrpc.getUpdatePostMethod = getUpdatePostMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.UpdatePostRequest, dev.wellspring.v1.Post>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "UpdatePost"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.UpdatePostRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.Post.getDefaultInstance()))
              .setSchemaDescriptor(new PostServiceMethodDescriptorSupplier("UpdatePost"))
              .build();
        }
      }
    }
    return getUpdatePostMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.DeletePostRequest,
      com.google.protobuf.Empty> getDeletePostMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DeletePost",
      requestType = dev.wellspring.v1.DeletePostRequest.class,
      responseType = com.google.protobuf.Empty.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.DeletePostRequest,
      com.google.protobuf.Empty> getDeletePostMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.DeletePostRequest, com.google.protobuf.Empty> getDeletePostMethod;
    if ((getDeletePostMethod = PostServiceGrpc.getDeletePostMethod) == null) {
      synchronized (PostServiceGrpc.class) {
        if ((getDeletePostMethod = PostServiceGrpc.getDeletePostMethod) == null) {
          PostServiceGrpc.getDeletePostMethod = getDeletePostMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.DeletePostRequest, com.google.protobuf.Empty>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DeletePost"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.DeletePostRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.google.protobuf.Empty.getDefaultInstance()))
              .setSchemaDescriptor(new PostServiceMethodDescriptorSupplier("DeletePost"))
              .build();
        }
      }
    }
    return getDeletePostMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.ImportPostsRequest,
      dev.wellspring.v1.ImportPostsResponse> getImportPostsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ImportPosts",
      requestType = dev.wellspring.v1.ImportPostsRequest.class,
      responseType = dev.wellspring.v1.ImportPostsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.CLIENT_STREAMING)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.ImportPostsRequest,
      dev.wellspring.v1.ImportPostsResponse> getImportPostsMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.ImportPostsRequest, dev.wellspring.v1.ImportPostsResponse> getImportPostsMethod;
    if ((getImportPostsMethod = PostServiceGrpc.getImportPostsMethod) == null) {
      synchronized (PostServiceGrpc.class) {
        if ((getImportPostsMethod = PostServiceGrpc.getImportPostsMethod) == null) {
          PostServiceGrpc.getImportPostsMethod = getImportPostsMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.ImportPostsRequest, dev.wellspring.v1.ImportPostsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.CLIENT_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ImportPosts"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ImportPostsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ImportPostsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new PostServiceMethodDescriptorSupplier("ImportPosts"))
              .build();
        }
      }
    }
    return getImportPostsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.ExportPostsRequest,
      dev.wellspring.v1.ExportPostsResponse> getExportPostsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ExportPosts",
      requestType = dev.wellspring.v1.ExportPostsRequest.class,
      responseType = dev.wellspring.v1.ExportPostsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.ExportPostsRequest,
      dev.wellspring.v1.ExportPostsResponse> getExportPostsMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.ExportPostsRequest, dev.wellspring.v1.ExportPostsResponse> getExportPostsMethod;
    if ((getExportPostsMethod = PostServiceGrpc.getExportPostsMethod) == null) {
      synchronized (PostServiceGrpc.class) {
        if ((getExportPostsMethod = PostServiceGrpc.getExportPostsMethod) == null) {
          PostServiceGrpc.getExportPostsMethod = getExportPostsMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.ExportPostsRequest, dev.wellspring.v1.ExportPostsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ExportPosts"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ExportPostsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ExportPostsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new PostServiceMethodDescriptorSupplier("ExportPosts"))
              .build();
        }
      }
    }
    return getExportPostsMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static PostServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<PostServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<PostServiceStub>() {
        @java.lang.Override
        public PostServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new PostServiceStub(channel, callOptions);
        }
      };
    return PostServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static PostServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<PostServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<PostServiceBlockingStub>() {
        @java.lang.Override
        public PostServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new PostServiceBlockingStub(channel, callOptions);
        }
      };
    return PostServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static PostServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<PostServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<PostServiceFutureStub>() {
        @java.lang.Override
        public PostServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new PostServiceFutureStub(channel, callOptions);
        }
      };
    return PostServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * Posts: the standard methods (AIP-131..135), batch get (AIP-231) and bulk
   * import/export.
   * </pre>
   */
  public static abstract class PostServiceImplBase implements io.grpc.BindableService {

    /**
     * <pre>
     * Returns one post. NOT_FOUND if absent.
     * </pre>
     */
    public void getPost(dev.wellspring.v1.GetPostRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.Post> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetPostMethod(), responseObserver);
    }

    /**
     * <pre>
     * Returns 1-1000 posts in request order from one snapshot. NOT_FOUND
     * naming every missing id if any is absent.
     * </pre>
     */
    public void batchGetPosts(dev.wellspring.v1.BatchGetPostsRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.BatchGetPostsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getBatchGetPostsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Lists posts a page at a time (keyset pagination).
     * </pre>
     */
    public void listPosts(dev.wellspring.v1.ListPostsRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ListPostsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListPostsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Creates a post. ALREADY_EXISTS for a taken id.
     * </pre>
     */
    public void createPost(dev.wellspring.v1.CreatePostRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.Post> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCreatePostMethod(), responseObserver);
    }

    /**
     * <pre>
     * Updates a post. ABORTED if `post.etag` is set and stale.
     * </pre>
     */
    public void updatePost(dev.wellspring.v1.UpdatePostRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.Post> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getUpdatePostMethod(), responseObserver);
    }

    /**
     * <pre>
     * Deletes a post. FAILED_PRECONDITION if it has comments, unless `force`.
     * </pre>
     */
    public void deletePost(dev.wellspring.v1.DeletePostRequest request,
        io.grpc.stub.StreamObserver<com.google.protobuf.Empty> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDeletePostMethod(), responseObserver);
    }

    /**
     * <pre>
     * Bulk upsert by id from a client stream, committed in chunks.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportPostsRequest> importPosts(
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportPostsResponse> responseObserver) {
      return io.grpc.stub.ServerCalls.asyncUnimplementedStreamingCall(getImportPostsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Streams every matching post from one snapshot, many per message.
     * </pre>
     */
    public void exportPosts(dev.wellspring.v1.ExportPostsRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ExportPostsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getExportPostsMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getGetPostMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.GetPostRequest,
                dev.wellspring.v1.Post>(
                  this, METHODID_GET_POST)))
          .addMethod(
            getBatchGetPostsMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.BatchGetPostsRequest,
                dev.wellspring.v1.BatchGetPostsResponse>(
                  this, METHODID_BATCH_GET_POSTS)))
          .addMethod(
            getListPostsMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.ListPostsRequest,
                dev.wellspring.v1.ListPostsResponse>(
                  this, METHODID_LIST_POSTS)))
          .addMethod(
            getCreatePostMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.CreatePostRequest,
                dev.wellspring.v1.Post>(
                  this, METHODID_CREATE_POST)))
          .addMethod(
            getUpdatePostMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.UpdatePostRequest,
                dev.wellspring.v1.Post>(
                  this, METHODID_UPDATE_POST)))
          .addMethod(
            getDeletePostMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.DeletePostRequest,
                com.google.protobuf.Empty>(
                  this, METHODID_DELETE_POST)))
          .addMethod(
            getImportPostsMethod(),
            io.grpc.stub.ServerCalls.asyncClientStreamingCall(
              new MethodHandlers<
                dev.wellspring.v1.ImportPostsRequest,
                dev.wellspring.v1.ImportPostsResponse>(
                  this, METHODID_IMPORT_POSTS)))
          .addMethod(
            getExportPostsMethod(),
            io.grpc.stub.ServerCalls.asyncServerStreamingCall(
              new MethodHandlers<
                dev.wellspring.v1.ExportPostsRequest,
                dev.wellspring.v1.ExportPostsResponse>(
                  this, METHODID_EXPORT_POSTS)))
          .build();
    }
  }

  /**
   * <pre>
   * Posts: the standard methods (AIP-131..135), batch get (AIP-231) and bulk
   * import/export.
   * </pre>
   */
  public static final class PostServiceStub extends io.grpc.stub.AbstractAsyncStub<PostServiceStub> {
    private PostServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected PostServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new PostServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Returns one post. NOT_FOUND if absent.
     * </pre>
     */
    public void getPost(dev.wellspring.v1.GetPostRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.Post> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetPostMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Returns 1-1000 posts in request order from one snapshot. NOT_FOUND
     * naming every missing id if any is absent.
     * </pre>
     */
    public void batchGetPosts(dev.wellspring.v1.BatchGetPostsRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.BatchGetPostsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getBatchGetPostsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Lists posts a page at a time (keyset pagination).
     * </pre>
     */
    public void listPosts(dev.wellspring.v1.ListPostsRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ListPostsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListPostsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Creates a post. ALREADY_EXISTS for a taken id.
     * </pre>
     */
    public void createPost(dev.wellspring.v1.CreatePostRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.Post> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCreatePostMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Updates a post. ABORTED if `post.etag` is set and stale.
     * </pre>
     */
    public void updatePost(dev.wellspring.v1.UpdatePostRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.Post> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getUpdatePostMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Deletes a post. FAILED_PRECONDITION if it has comments, unless `force`.
     * </pre>
     */
    public void deletePost(dev.wellspring.v1.DeletePostRequest request,
        io.grpc.stub.StreamObserver<com.google.protobuf.Empty> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDeletePostMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Bulk upsert by id from a client stream, committed in chunks.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportPostsRequest> importPosts(
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportPostsResponse> responseObserver) {
      return io.grpc.stub.ClientCalls.asyncClientStreamingCall(
          getChannel().newCall(getImportPostsMethod(), getCallOptions()), responseObserver);
    }

    /**
     * <pre>
     * Streams every matching post from one snapshot, many per message.
     * </pre>
     */
    public void exportPosts(dev.wellspring.v1.ExportPostsRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ExportPostsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getExportPostsMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * <pre>
   * Posts: the standard methods (AIP-131..135), batch get (AIP-231) and bulk
   * import/export.
   * </pre>
   */
  public static final class PostServiceBlockingStub extends io.grpc.stub.AbstractBlockingStub<PostServiceBlockingStub> {
    private PostServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected PostServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new PostServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Returns one post. NOT_FOUND if absent.
     * </pre>
     */
    public dev.wellspring.v1.Post getPost(dev.wellspring.v1.GetPostRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetPostMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Returns 1-1000 posts in request order from one snapshot. NOT_FOUND
     * naming every missing id if any is absent.
     * </pre>
     */
    public dev.wellspring.v1.BatchGetPostsResponse batchGetPosts(dev.wellspring.v1.BatchGetPostsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getBatchGetPostsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists posts a page at a time (keyset pagination).
     * </pre>
     */
    public dev.wellspring.v1.ListPostsResponse listPosts(dev.wellspring.v1.ListPostsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListPostsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Creates a post. ALREADY_EXISTS for a taken id.
     * </pre>
     */
    public dev.wellspring.v1.Post createPost(dev.wellspring.v1.CreatePostRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCreatePostMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Updates a post. ABORTED if `post.etag` is set and stale.
     * </pre>
     */
    public dev.wellspring.v1.Post updatePost(dev.wellspring.v1.UpdatePostRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getUpdatePostMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Deletes a post. FAILED_PRECONDITION if it has comments, unless `force`.
     * </pre>
     */
    public com.google.protobuf.Empty deletePost(dev.wellspring.v1.DeletePostRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDeletePostMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Streams every matching post from one snapshot, many per message.
     * </pre>
     */
    public java.util.Iterator<dev.wellspring.v1.ExportPostsResponse> exportPosts(
        dev.wellspring.v1.ExportPostsRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getExportPostsMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * Posts: the standard methods (AIP-131..135), batch get (AIP-231) and bulk
   * import/export.
   * </pre>
   */
  public static final class PostServiceFutureStub extends io.grpc.stub.AbstractFutureStub<PostServiceFutureStub> {
    private PostServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected PostServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new PostServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Returns one post. NOT_FOUND if absent.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.Post> getPost(
        dev.wellspring.v1.GetPostRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetPostMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Returns 1-1000 posts in request order from one snapshot. NOT_FOUND
     * naming every missing id if any is absent.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.BatchGetPostsResponse> batchGetPosts(
        dev.wellspring.v1.BatchGetPostsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getBatchGetPostsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Lists posts a page at a time (keyset pagination).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.ListPostsResponse> listPosts(
        dev.wellspring.v1.ListPostsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListPostsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Creates a post. ALREADY_EXISTS for a taken id.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.Post> createPost(
        dev.wellspring.v1.CreatePostRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCreatePostMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Updates a post. ABORTED if `post.etag` is set and stale.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.Post> updatePost(
        dev.wellspring.v1.UpdatePostRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getUpdatePostMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Deletes a post. FAILED_PRECONDITION if it has comments, unless `force`.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.google.protobuf.Empty> deletePost(
        dev.wellspring.v1.DeletePostRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDeletePostMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_GET_POST = 0;
  private static final int METHODID_BATCH_GET_POSTS = 1;
  private static final int METHODID_LIST_POSTS = 2;
  private static final int METHODID_CREATE_POST = 3;
  private static final int METHODID_UPDATE_POST = 4;
  private static final int METHODID_DELETE_POST = 5;
  private static final int METHODID_EXPORT_POSTS = 6;
  private static final int METHODID_IMPORT_POSTS = 7;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final PostServiceImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(PostServiceImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_GET_POST:
          serviceImpl.getPost((dev.wellspring.v1.GetPostRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.Post>) responseObserver);
          break;
        case METHODID_BATCH_GET_POSTS:
          serviceImpl.batchGetPosts((dev.wellspring.v1.BatchGetPostsRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.BatchGetPostsResponse>) responseObserver);
          break;
        case METHODID_LIST_POSTS:
          serviceImpl.listPosts((dev.wellspring.v1.ListPostsRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.ListPostsResponse>) responseObserver);
          break;
        case METHODID_CREATE_POST:
          serviceImpl.createPost((dev.wellspring.v1.CreatePostRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.Post>) responseObserver);
          break;
        case METHODID_UPDATE_POST:
          serviceImpl.updatePost((dev.wellspring.v1.UpdatePostRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.Post>) responseObserver);
          break;
        case METHODID_DELETE_POST:
          serviceImpl.deletePost((dev.wellspring.v1.DeletePostRequest) request,
              (io.grpc.stub.StreamObserver<com.google.protobuf.Empty>) responseObserver);
          break;
        case METHODID_EXPORT_POSTS:
          serviceImpl.exportPosts((dev.wellspring.v1.ExportPostsRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.ExportPostsResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_IMPORT_POSTS:
          return (io.grpc.stub.StreamObserver<Req>) serviceImpl.importPosts(
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportPostsResponse>) responseObserver);
        default:
          throw new AssertionError();
      }
    }
  }

  private static abstract class PostServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    PostServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return dev.wellspring.v1.PostServiceProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("PostService");
    }
  }

  private static final class PostServiceFileDescriptorSupplier
      extends PostServiceBaseDescriptorSupplier {
    PostServiceFileDescriptorSupplier() {}
  }

  private static final class PostServiceMethodDescriptorSupplier
      extends PostServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    PostServiceMethodDescriptorSupplier(String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (PostServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new PostServiceFileDescriptorSupplier())
              .addMethod(getGetPostMethod())
              .addMethod(getBatchGetPostsMethod())
              .addMethod(getListPostsMethod())
              .addMethod(getCreatePostMethod())
              .addMethod(getUpdatePostMethod())
              .addMethod(getDeletePostMethod())
              .addMethod(getImportPostsMethod())
              .addMethod(getExportPostsMethod())
              .build();
        }
      }
    }
    return result;
  }
}
